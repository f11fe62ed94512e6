"""Operating the bot: instrumentation, /healthz and /metrics, and the operator's commands.

Everything here wraps the bot from outside (a store wrapper, a Bot API request wrapper, PTB
handlers in their own groups) so that the core modules only carry one-line hooks.
"""
