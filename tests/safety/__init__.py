"""Tests of safety properties of the real knowledge base."""
