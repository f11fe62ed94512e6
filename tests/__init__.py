"""CrampCheck tests; a package so that ``tests.fakes`` is importable from any test module."""
