"""Tests of bot/engine/numbers/: the emergency-number table, countries by name and position."""
