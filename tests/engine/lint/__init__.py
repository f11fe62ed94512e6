"""Knowledge-base lint tests: the real knowledge/ and the fixtures under tests/kb/."""
