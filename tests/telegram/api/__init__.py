"""Tests of bot/telegram/api/: the bot client, request chain, retries, pacing and transport."""
