"""Tests of bot/store/."""
