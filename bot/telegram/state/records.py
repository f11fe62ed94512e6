"""Typed records in the session store: load, validate, change, compare-and-set, stamp the ledger.

Every feature keeps its state as one pydantic model per key (the conversation, /sweat's draft,
the country prompt, the profile, a check-in) and writes it the same way: read the record and its
store revision, validate it (an unreadable one reads as none, logged by its error codes only,
since records hold health data), change it, stamp the id of the update being processed into its
ledger (`ledger.py`) and compare-and-set it against the revision read. `Records` is that one way;
what to do when another write wins the race stays the caller's choice: `save` says whether it
won, `change` reloads and tries again, `close` gives the record up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from bot.engine.errors import ConflictError
from bot.store.base import SessionKey, SessionStore
from bot.telegram.state import ledger

logger = logging.getLogger(__name__)


M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Stored(Generic[M]):
    """A record as read, with the store revision to write against.

    `record` is None when there is none (revision 0) or it cannot be read (an old or damaged
    record, which the next write replaces). The record's model carries its ledger in `updates`.
    """

    record: M | None
    revision: int

    @property
    def applied(self) -> tuple[int, ...]:
        """The ids of the updates the record has applied (none without a record)."""
        updates: tuple[int, ...] = getattr(self.record, "updates", ())
        return updates


def _json(record: BaseModel) -> str:
    return record.model_dump_json()


class Records(Generic[M]):
    """Records of one model in `store`; `what` names them in logs ("sweat draft", "profile")."""

    def __init__(
        self,
        store: SessionStore,
        model: type[M],
        what: str,
        *,
        parse: Callable[[str], M] | None = None,
        dump: Callable[[M], str] = _json,
    ) -> None:
        self.store = store
        self.model = model
        self.what = what
        self.parse: Callable[[str], M] = parse or model.model_validate_json
        self.dump = dump

    async def load(self, key: SessionKey) -> Stored[M]:
        """Return the record under `key` and its revision; an unreadable one reads as none."""
        found = await self.store.get(key)
        if found is None:
            return Stored(None, 0)
        try:
            return Stored(self.parse(found.data), found.revision)
        except ValidationError as error:
            # The error codes only: a record holds answers, which are health data.
            codes = sorted({str(item["type"]) for item in error.errors(include_input=False)})
            revision = found.revision
            logger.warning("unreadable %s %s rev %d: %s", self.what, key.render(), revision, codes)
            return Stored(None, found.revision)

    def stamped(self, record: M, over: Stored[M]) -> M:
        """Return `record` with the ledger of `over` plus the update being processed."""
        applied = ledger.remember(over.applied, ledger.stamp())
        return record.model_copy(update={"updates": applied})

    async def save(self, key: SessionKey, record: M, *, over: Stored[M]) -> int | None:
        """Write `record` over `over` (stamped), or return None when another write won the race.

        Returns the new store revision.
        """
        try:
            return await self.store.put(
                key, self.dump(self.stamped(record, over)), expected_revision=over.revision
            )
        except ConflictError:
            return None

    async def change(
        self, key: SessionKey, change: Callable[[M | None], M], *, tries: int = 2
    ) -> M:
        """Load, change, stamp and write the record; on a lost race read it again and retry.

        After `tries` lost races the last ConflictError propagates.
        """
        for attempt in range(1, tries + 1):
            over = await self.load(key)
            record = self.stamped(change(over.record), over)
            try:
                await self.store.put(key, self.dump(record), expected_revision=over.revision)
            except ConflictError:
                if attempt == tries:
                    raise
            else:
                return record
        raise ValueError(f"tries must be at least 1, got {tries}")

    async def close(self, key: SessionKey, closed: M, *, over: Stored[M]) -> None:
        """Replace the record by `closed`, kept only for its ledger (a redelivery of the update
        that closed it is still recognised); with no update to remember, or when another write
        won the race, the record is deleted instead."""
        if ledger.stamp() is None or await self.save(key, closed, over=over) is None:
            await self.store.delete(key)
