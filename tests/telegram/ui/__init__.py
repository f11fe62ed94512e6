"""Tests of bot/telegram/ui/: callback data, keyboards and the outbox."""
