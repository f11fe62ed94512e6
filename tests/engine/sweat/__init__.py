"""Tests of bot/engine/sweat/: the /sweat configuration, arithmetic and question flow."""
