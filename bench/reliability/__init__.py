"""Reliability harnesses (crash, load, faults): loopback only, bounded, not in the default run.

Run from the repository root, e.g. `python -m bench.reliability.crash --kills 100`; the figures and
how to reproduce them are in docs/reliability.md.
"""
