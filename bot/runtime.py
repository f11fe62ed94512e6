"""Process-wide tuning of the long-running bot process: the garbage collector.

Every update allocates thousands of short-lived objects (PTB's Update, Message and button objects,
pydantic models, JSON), so CPython's default collector (a young-generation pass every 700
allocations, each one also walking what survived) takes about a tenth of the bot's CPU time.
Reference counting frees almost all of it anyway; cycles are rare. `tune_gc` freezes what exists
at start-up (modules, the knowledge base: kept for the life of the process, never garbage) so no
collection walks it again, and makes young-generation passes rarer.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Allocations between young-generation passes (CPython's default: 700)."""
OLDER_THRESHOLDS = (50, 100)


def tune_gc() -> None:
    """Freeze the objects made so far and space the collector's passes out."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
