"""Tests of bot/telegram/state/: the conversation record, the ledger and the preferences."""
