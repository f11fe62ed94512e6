"""Tests of bot/engine/kb/: the knowledge base's models, conditions and loader."""
