"""Calls going out to the Bot API: the bot client, the request chain (transport, retries, pacing)
and its instrumentation.
"""
