"""bench/*.py are scripts that import each other as top-level modules (`import fake_api`), and
mypy knows them by those names (pyproject.toml); the tests here import them the same way."""

from __future__ import annotations

import sys

from tests.shared import REPO

if str(REPO / "bench") not in sys.path:
    sys.path.insert(0, str(REPO / "bench"))
