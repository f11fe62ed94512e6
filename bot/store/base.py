"""The session-store contract: keys, records and the `SessionStore` protocol every backend meets.

A store keeps opaque JSON text under a `SessionKey` and guards every write with a revision
(compare-and-set), so several bot processes can share one store without overwriting each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

SESSION = "sess"
"""Scope of a questionnaire record."""
PROFILE = "pref"
"""Scope of a user's preferences (language): kept across questionnaires, erased by /forget."""


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Where one user's record lives: a questionnaire per chat, or the user's preferences."""

    chat_id: int
    user_id: int
    scope: str = SESSION

    def render(self) -> str:
        """Build the storage key `<scope>:<chat_id>:<user_id>`; the only place that spells it."""
        return f"{self.scope}:{self.chat_id}:{self.user_id}"


@dataclass(frozen=True, slots=True)
class Record:
    """One stored session: its revision and its JSON text."""

    revision: int  # 1 for a new record, +1 on every successful put
    data: str  # JSON text, opaque to the store


class SessionStore(Protocol):
    """Keyed JSON text with compare-and-set writes and an idle timeout.

    Sessions expire after `ttl_seconds` without a put (`None` means never). An expired record
    reads as absent: `get` returns None and a put with `expected_revision=0` succeeds.
    """

    async def get(self, key: SessionKey) -> Record | None:
        """Return the live record under `key`, or None."""
        ...

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        """Compare-and-set. expected_revision=0 means "must not exist yet" (insert).

        Otherwise the stored revision must equal expected_revision. Returns the new revision
        (expected_revision + 1). Raises ConflictError(key.render(), expected, actual) otherwise
        (actual = stored revision or None when absent). Refreshes the idle TTL.
        """
        ...

    async def delete(self, key: SessionKey) -> bool:
        """Remove the record under `key`; return whether a live one was there."""
        ...

    async def delete_user(self, user_id: int) -> int:
        """Erase every record of this user in every chat (for /forget); returns how many."""
        ...

    async def count(self) -> int:
        """Return the number of live (unexpired) records; for stats and benchmarks."""
        ...

    async def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...


def check_ttl(ttl_seconds: float | None) -> float | None:
    """Return `ttl_seconds` unchanged, or raise ValueError unless it is None or positive."""
    if ttl_seconds is not None and not (ttl_seconds > 0 and math.isfinite(ttl_seconds)):
        raise ValueError(f"ttl_seconds must be a positive number or None, got {ttl_seconds!r}")
    return ttl_seconds


def check_expected_revision(expected_revision: int) -> None:
    """Raise ValueError on a negative revision: 0 means insert, 1 and up mean update."""
    if expected_revision < 0:
        raise ValueError(f"expected_revision must be 0 or more, got {expected_revision}")
