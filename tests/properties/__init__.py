"""Hypothesis properties over the real knowledge base: walks end, levels only rise."""
