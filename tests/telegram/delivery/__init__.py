"""Tests of bot/telegram/delivery/: polling, the webhook, serving and the update processor."""
