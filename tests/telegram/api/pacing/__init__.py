"""Tests of bot/telegram/api/pacing/: in-process and shared pacing."""
