"""What operators see of a running bot: metrics, JSON logs, /healthz and /metrics, and the
instruments wired in by `Observer`.
"""
