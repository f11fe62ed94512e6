"""The update ledger: which Telegram updates a conversation record has already applied.

Delivery is at least once: a crash between committing an update's state change and confirming
the update to Telegram (polling offset, webhook 200) makes Telegram deliver it again. The record
that the update changed therefore carries the ids of the last few updates it applied, written in
the same compare-and-set as the change itself, so a second delivery is recognised and skipped.

`current_update` names the update being processed; `UpdateProcessor` sets it around each update,
and `ConversationKeeper` stamps its id into every record it writes. Updates processed without it
(tests that call `Application.process_update` directly) stamp nothing.

The features' own records (/sweat's draft, the country prompt, the profile, a check-in)
carry such a ledger too, stamped in the same write as their change. `UpdateProcessor` judges an
update against the conversation only, so a feature judges against its records itself
(`verdict`, `admits_press`) before it changes or sends anything.
"""

from __future__ import annotations

import enum
from contextvars import ContextVar
from typing import Protocol

WINDOW = 8
"""Ids kept per record: enough for a redelivered batch, small enough to keep the record tiny."""

current_update: ContextVar[int | None] = ContextVar("current_update", default=None)
skipped: ContextVar[bool] = ContextVar("update_skipped", default=False)
"""Set by `verdict` when a feature finds the update being processed applied already: a retry
that a feature skips must still report the failure that came after its commit, as a duplicate
judged by `UpdateProcessor` does."""


class Verdict(enum.Enum):
    """What to do with an update, judged against the ids its conversation has applied."""

    NEW = "new"
    """Not applied yet: process it."""
    DUPLICATE = "duplicate"
    """Applied already (a redelivery): change nothing, send nothing."""
    STALE = "stale"
    """Older than what the chat has applied, but not recorded: a redelivered update whose effect
    was not a state change, or one that arrived out of order. Only a button press is answered
    (so that no spinner is left); anything else is dropped, because replaying an old /start or
    /forget after newer answers would undo them."""


def remember(applied: tuple[int, ...], update_id: int | None) -> tuple[int, ...]:
    """Return `applied` with `update_id` added, keeping the newest `WINDOW` ids in order."""
    if update_id is None or update_id in applied:
        return applied
    return tuple(sorted((*applied, update_id)))[-WINDOW:]


def judge(update_id: int, applied: tuple[int, ...]) -> Verdict:
    """Tell whether an update with `update_id` is new, a duplicate or stale for this record."""
    if update_id in applied:
        return Verdict.DUPLICATE
    if applied and update_id < applied[-1]:
        return Verdict.STALE
    return Verdict.NEW


def stamp() -> int | None:
    """Return the id of the update being processed, or None outside `UpdateProcessor`."""
    return current_update.get()


def verdict(*ledgers: tuple[int, ...]) -> Verdict:
    """Judge the update being processed against the ids that one or more records applied.

    For the records beside the conversation (/sweat's draft, the country prompt, the
    profile, a check-in), which `UpdateProcessor` does not read: the feature that writes them
    judges here before it changes or sends anything. An update that may write either of two
    records (a country choice: the profile, or the prompt) is judged against both, as one
    ledger. Outside `UpdateProcessor` there is no id, and every update is new.
    """
    update_id = stamp()
    if update_id is None:
        return Verdict.NEW
    judged = judge(update_id, tuple(sorted({applied for ids in ledgers for applied in ids})))
    if judged is Verdict.DUPLICATE:
        skipped.set(True)
    return judged


class Press(Protocol):
    """A button press (a `telegram.CallbackQuery`), as far as a skipped one needs it."""

    async def answer(self) -> object: ...


async def admits_press(query: Press, *ledgers: tuple[int, ...]) -> bool:
    """Tell whether to apply a button press, judged as `verdict` does.

    A duplicate was answered when it was applied, so it gets nothing; a stale one gets an empty
    answer, so that no spinner is left (what `UpdateProcessor` does for the conversation).
    """
    judged = verdict(*ledgers)
    if judged is Verdict.STALE:
        await query.answer()
    return judged is Verdict.NEW
