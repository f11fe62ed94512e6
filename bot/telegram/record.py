"""The conversation record: what the store keeps for one user's questionnaire in one chat.

A `Conversation` is the engine's `Session` plus what the adapter needs to edit its one live
message in place (that message's id, the language), the ids of the updates applied to it (the
ledger) and whether its latest screen is still owed. It is stored as JSON text, versioned by
`format`, and older formats are upgraded on load. `Stored` is a record as read, with the store
revision to write against. `conversation.py` reads, writes and shows them.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.engine.session import Session
from bot.telegram import ledger

FORMAT = 3
"""2 added `updates`, 3 `is_screen_pending` and `floor_id`; `_MIGRATIONS` upgrades older ones."""
DEFAULT_LANGUAGE = "en"


class Conversation(BaseModel):
    """One user's questionnaire in one chat, as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    session: Session
    message_id: int | None = None
    """The message that shows the current question or result, edited in place."""
    language: str = DEFAULT_LANGUAGE
    updates: tuple[int, ...] = ()
    """Ids of the last Telegram updates applied to this record, so a redelivery is skipped."""
    is_screen_pending: bool = False
    """The step committed last is owed a new message that was not sent (and tracked) yet.

    Set by the commit of a step that goes into a new message, cleared when that message is
    tracked: a kill in between leaves it set, and the redelivered update sends the screen."""
    floor_id: int | None = None
    """Set when an owed screen was sent again: the message that showed the step before it.

    The kill may have come after the first copy went out, so a press on any message newer than
    this one, at the current revision, is a press on a copy of the current step (`adopting`).
    0 when no message came before; None (the rule without re-sends): newer than `message_id`.
    A commit clears it."""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        version = data.get("format") if isinstance(data, dict) else None
        if isinstance(version, int) and version >= 1:  # format 0 or less stays invalid
            for step in _MIGRATIONS[version:]:
                data = step(data)
        return data

    def stamped(self) -> Conversation:
        """Return this record with the update being processed (`ledger.current_update`) added."""
        return self.model_copy(update={"updates": ledger.remember(self.updates, ledger.stamp())})

    def dump(self) -> str:
        """Return the stored JSON: defaults left out to keep records small, `format` kept.

        Loading always upgrades a record to FORMAT, so `format` equals its default here and
        `exclude_defaults` drops it; it is put back first, so an old record is never misread.
        """
        body = self.model_dump_json(exclude_defaults=True)
        text = f'{{"format":{self.format},{body[1:]}'
        _remember(text, self)  # read back at once, by the processor's stamping (`_settle`)
        return text

    @classmethod
    def load(cls, text: str) -> Conversation:
        """Return the conversation stored as `text`; the same text is parsed once (`_KNOWN`)."""
        known = _KNOWN.get(text)
        if known is None:
            known = _remember(text, Conversation.model_validate_json(text))
        return known


_KNOWN: OrderedDict[str, Conversation] = OrderedDict()
"""Records parsed or written lately, by their text: one update reads its record up to three
times (ledger, handler, stamping), the last time as the handler wrote it. A `Conversation` is
frozen, so the same object can be handed out again."""
KNOWN_RECORDS = 256


def _remember(text: str, conversation: Conversation) -> Conversation:
    _KNOWN[text] = conversation
    while len(_KNOWN) > KNOWN_RECORDS:
        _KNOWN.popitem(last=False)
    return conversation


_MIGRATIONS: list[Any] = [
    lambda data: data,  # index 0 is no format: format 1 is the baseline
    lambda data: {**data, "format": 2},  # 1 -> 2: no update ids were kept
    lambda data: {**data, "format": 3},  # 2 -> 3: every screen had been shown
]
"""Index N upgrades format N to N+1."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds under one key, with the store revision to write against.

    `conversation` is None when there is none (revision 0) or the record cannot be read (an old
    or damaged record, which the next write replaces).
    """

    conversation: Conversation | None
    revision: int

    def adopting(self, pressed_id: int | None, *, revision: int) -> Stored:
        """Take a pressed message newer than the floor, at the current revision, as live.

        Only a crash between sending a new screen and recording its id leaves such a message
        untracked (message ids only grow), or the first copy of a screen sent again after such
        a crash (`floor_id`); without this its buttons would read as an old screen's, and the
        user's answer as "moved on".
        """
        current = self.conversation
        if current is None or pressed_id is None or current.message_id is None:
            return self
        floor = current.message_id if current.floor_id is None else current.floor_id
        if pressed_id == current.message_id or pressed_id <= floor:
            return self
        if revision != current.session.rev:
            return self
        return Stored(current.model_copy(update={"message_id": pressed_id}), self.revision)
