"""Tests of the benchmark's own parts (bench/), where a wrong fake would report wrong figures."""
