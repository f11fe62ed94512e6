"""Fixtures for engine tests: the tiny engine knowledge base, written to tmp_path and loaded.

`kb` here deliberately overrides the session-wide `kb` of tests/conftest.py (the real
knowledge/): engine unit tests reason about small, fixed rules. Tests of the real knowledge
base use `tests.engine.helpers.real_kb()` instead.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.kb.models import KnowledgeBase
from tests.engine.helpers import ENGINE_KB, load_kb


@pytest.fixture
def kb(tmp_path: Path) -> KnowledgeBase:
    """The tiny engine knowledge base of helpers.ENGINE_KB (not the real knowledge/)."""
    return load_kb(tmp_path, ENGINE_KB)
