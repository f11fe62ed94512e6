"""Pacing the bot's messages to Telegram's limits: in this process (`limiter.py`) or shared through
Redis by several workers (`shared.py`).
"""
