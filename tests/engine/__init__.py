"""Engine unit tests: state machine, scoring, sessions, conditions, the real knowledge base."""
