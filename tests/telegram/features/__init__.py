"""Tests of bot/telegram/features/: each feature over the fake Bot API."""
