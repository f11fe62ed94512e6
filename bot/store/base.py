"""The session-store contract: keys, records and the `SessionStore` protocol every backend meets.

A store keeps opaque JSON text under a `SessionKey` and guards every write with a revision
(compare-and-set), so several bot processes can share one store without overwriting each other.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

SESSION = "sess"
"""Scope of a questionnaire record."""
PROFILE = "pref"
"""Scope of a user's preferences (language): kept across questionnaires, erased by /forget."""
CHECKIN = "chk"
"""Scope of a scheduled follow-up check-in: kept until sent, cancelled or erased by /forget."""
PLAN = "plan"
"""Scope of the last /sweat plan's result, for the trip card: it outlives the idle TTL."""
CARD = "card"
"""Scope of the trip card's message and state: it outlives the idle TTL, so that /card can
still edit the card and /forget delete it weeks later."""

DAY = 86_400.0
LIFETIMES: Mapping[str, float] = {PLAN: 31 * DAY, CARD: 366 * DAY}
"""Scopes whose records live longer than the store's idle TTL: seconds after the last put.

The trip card shows a /sweat plan for 30 days (one more day covers the calendar-day check in
`bot.engine.card`), and keeps its message id for a year. A store without TTL keeps
everything anyway."""

_RENDERED = re.compile(r"([a-z]+):(-?[0-9]+):(-?[0-9]+)", re.ASCII)


@dataclass(frozen=True, slots=True)
class SessionKey:
    """Where one user's record lives: a questionnaire per chat, or the user's preferences."""

    chat_id: int
    user_id: int
    scope: str = SESSION

    def render(self) -> str:
        """Build the storage key `<scope>:<chat_id>:<user_id>`; the only place that spells it."""
        return f"{self.scope}:{self.chat_id}:{self.user_id}"

    @classmethod
    def parse(cls, text: str) -> SessionKey:
        """Read back a key `render` built; ValueError on anything but that exact form."""
        match = _RENDERED.fullmatch(text)
        key = None if match is None else cls(int(match[2]), int(match[3]), match[1])
        if key is None or key.render() != text:  # refuses "007" and "-0": not what render spells
            raise ValueError(f"not a rendered session key: {text!r}")
        return key


@dataclass(frozen=True, slots=True)
class Record:
    """One stored session: its revision and its JSON text."""

    revision: int  # 1 for a new record, +1 on every successful put
    data: str  # JSON text, opaque to the store


class SessionStore(Protocol):
    """Keyed JSON text with compare-and-set writes and an idle timeout.

    Sessions expire after `ttl_seconds` without a put (`None` means never); a record of a scope
    in `LIFETIMES` after its own, longer lifetime (`lifetime`). An expired record reads as
    absent: `get` returns None and a put with `expected_revision=0` succeeds.
    """

    async def get(self, key: SessionKey) -> Record | None:
        """Return the live record under `key`, or None."""
        ...

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        """Return what `get` returns for each of `keys`, in order, in one round trip where the
        backend can (a /start reads the chat's prompts and preferences at once)."""
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
        """Erase every record and schedule of this user in every chat (for /forget).

        Returns how many records went; schedules are removed but not counted.
        """
        ...

    async def schedule(self, key: SessionKey, due_at: float) -> None:
        """Remember that `key` is due at `due_at` (epoch seconds), replacing an earlier due time.

        Schedules are durable and never expire with the idle TTL; only `unschedule` and
        `delete_user` remove them.
        """
        ...

    async def unschedule(self, key: SessionKey) -> bool:
        """Remove the schedule of `key`; return whether it was there (one caller wins a race)."""
        ...

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        """Return up to `limit` schedules due at or before `now`, oldest first, with due times."""
        ...

    async def count(self) -> int:
        """Return the number of live (unexpired) records; for stats and benchmarks."""
        ...

    def scan(self, scope: str) -> AsyncIterator[tuple[SessionKey, Record]]:
        """Yield every live record of `scope` (such as SESSION) with its key, in no set order;
        read-only.

        For operators' aggregates (`crampcheck stats`, which drop the keys: nothing they print
        names a user) and for the screens a killed process owed (`ConversationKeeper.resume`).
        A record written or deleted during the scan may or may not show.
        """
        ...

    async def close(self) -> None:
        """Release connections; the store must not be used afterwards."""
        ...


def check_ttl(ttl_seconds: float | None) -> float | None:
    """Return `ttl_seconds` unchanged, or raise ValueError unless it is None or positive."""
    if ttl_seconds is not None and not (ttl_seconds > 0 and math.isfinite(ttl_seconds)):
        raise ValueError(f"ttl_seconds must be a positive number or None, got {ttl_seconds!r}")
    return ttl_seconds


def lifetime(
    scope: str, ttl_seconds: float | None, lifetimes: Mapping[str, float] = LIFETIMES
) -> float | None:
    """Return how long a record of `scope` lives after its last put (None: for ever).

    The idle TTL, or the scope's own lifetime when that is longer; a store without TTL keeps
    every record.
    """
    if ttl_seconds is None:
        return None
    return max(ttl_seconds, lifetimes.get(scope, ttl_seconds))


def check_due_at(due_at: float) -> float:
    """Return `due_at` as a float, or raise ValueError unless it is a finite number."""
    if not math.isfinite(due_at):
        raise ValueError(f"due_at must be a finite number of epoch seconds, got {due_at!r}")
    return float(due_at)


def check_limit(limit: int) -> int:
    """Return `limit`, or raise ValueError unless it is 1 or more."""
    if limit < 1:
        raise ValueError(f"limit must be 1 or more, got {limit}")
    return limit


def check_scope(scope: str) -> str:
    """Return `scope`, or raise ValueError unless it is lowercase letters (as SESSION is)."""
    if not re.fullmatch(r"[a-z]+", scope, re.ASCII):
        raise ValueError(f"scope must be lowercase letters, got {scope!r}")
    return scope


def check_expected_revision(expected_revision: int) -> None:
    """Raise ValueError on a negative revision: 0 means insert, 1 and up mean update."""
    if expected_revision < 0:
        raise ValueError(f"expected_revision must be 0 or more, got {expected_revision}")
