"""Where the shared clinical and Telegram material lives, and how a test skips without it.

CI always has `../shared/` beside the clone; a user's fresh clone does not, and then the
tests that need it skip with the reason instead of failing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def shared_file(relative: str) -> Path:
    """Return a file under ../shared/, or skip the calling test with a clear reason."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"{path} not found: the shared clinical material sits beside the clone in CI")
    return path
