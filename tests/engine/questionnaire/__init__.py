"""Tests of bot/engine/questionnaire/: session, state machine, routing and scoring."""
