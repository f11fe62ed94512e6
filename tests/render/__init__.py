"""Tests of bot/render/."""
