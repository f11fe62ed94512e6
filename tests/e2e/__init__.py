"""Tests of the whole bot, end to end."""
