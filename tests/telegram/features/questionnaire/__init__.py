"""Tests of bot/telegram/features/questionnaire/: the questionnaire's handlers and keeper."""
