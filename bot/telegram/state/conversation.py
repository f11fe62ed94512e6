"""The conversation record: what the store keeps for one user's questionnaire in one chat.

A `Conversation` is the engine's `Session` plus what the adapter needs to bring the chat to it:
the live message (the newest screen sent, edited in place), the language, the ids of the updates
applied to it (the ledger) and the screen bookkeeping. State comes first, screens after: a
handler commits the new state with `view` one higher (and says what the new screen owes: a new
message, first-aid cards, the location offer); the chat's sender (`outbox.py`,
`ConversationKeeper.sync`) then shows the newest view at Telegram's pace and records it as `shown`.
A screen is owed while `shown < view`, so a kill between the commit and the send leaves it owed,
and whoever syncs the chat next (a redelivery, the user's next press or message) sends it.
Several commits before one send are shown once, as the newest (last write wins). Replies a
press asked for (Why?, a summary) are owed the same way until sent (`OwedReply`).

It is stored as JSON text, versioned by `format`, and older formats are upgraded on load.
`Stored` is a record as read, with the store revision to write against.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.engine.questionnaire.session import Session
from bot.telegram.state import ledger

FORMAT = 5
"""2 added `updates`, 3 an owed-screen flag, 4 the views, 5 owed replies; `_MIGRATIONS` upgrades
older ones."""
DEFAULT_LANGUAGE = "en"


class OwedCard(BaseModel):
    """A card (first aid) that the step committed at `view` brought, not sent yet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: int = Field(ge=1)
    advice: str
    """The id of the advice block the card shows."""


class ReplyButton(BaseModel):
    """A button under an owed reply (a summary's "In English")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    data: str


class OwedReply(BaseModel):
    """A message of its own that a press asked for (Why?, More, a summary), not sent yet.

    Kept in the record, not only in the outbox's memory, so that a kill or a run of failed
    calls after the press was answered cannot lose it: whoever syncs the chat next sends it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    view: int = Field(ge=0)
    """The view the chat was owed when the press came: the reply follows that screen and goes
    before any newer one."""
    text: str
    buttons: tuple[ReplyButton, ...] = ()
    """One per row."""


class Conversation(BaseModel):
    """One user's questionnaire in one chat, as stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, ge=1, le=FORMAT)
    session: Session
    message_id: int | None = None
    """The live message: the newest screen the sender sent, edited in place while it can."""
    language: str = DEFAULT_LANGUAGE
    updates: tuple[int, ...] = ()
    """Ids of the last Telegram updates applied to this record, so a redelivery is skipped."""
    view: int = Field(default=0, ge=0)
    """+1 on every commit that changes what the chat should show."""
    shown: int = Field(default=0, ge=0)
    """The view the chat shows: the sender records it after the screen went out."""
    fresh: int = Field(default=0, ge=0)
    """The newest view that goes into a new message (below the chat's other messages) rather
    than an edit of the live one; owed while above `shown`."""
    cards: tuple[OwedCard, ...] = ()
    """Cards owed before the screen, oldest first; the sender drops those it sent."""
    screen_rev: int | None = Field(default=None, ge=0)
    """The session revision at which the question shown now was first drawn: ticks on the
    checklist keep it, so a tick or Done pressed on a rendering since then still counts.
    None (not known): only a press drawn at the current revision counts."""
    offer: int = Field(default=0, ge=0)
    """The view of a new result, which the location offer follows once (urgent results)."""
    replies: tuple[OwedReply, ...] = ()
    """Replies owed, oldest first; the sender drops each once it went out."""

    @property
    def is_screen_pending(self) -> bool:
        """Tell whether the chat does not show the newest view yet."""
        return self.shown < self.view

    @property
    def is_owed(self) -> bool:
        """Tell whether the chat is owed anything: the newest view, or a reply."""
        return self.shown < self.view or bool(self.replies)

    @property
    def needs_new_message(self) -> bool:
        """Tell whether the owed screen goes into a new message."""
        return self.fresh > self.shown or self.message_id is None

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


def _views(data: dict[str, Any]) -> dict[str, Any]:
    """3 -> 4: an owed screen becomes an owed view in a new message; the floor goes."""
    data = {name: value for name, value in data.items() if name != "floor_id"}
    if data.pop("is_screen_pending", False):
        data.update(view=1, shown=0, fresh=1)
    return {**data, "format": 4}


_MIGRATIONS: list[Any] = [
    lambda data: data,  # index 0 is no format: format 1 is the baseline
    lambda data: {**data, "format": 2},  # 1 -> 2: no update ids were kept
    lambda data: {**data, "format": 3},  # 2 -> 3: every screen had been shown
    _views,
    lambda data: {**data, "format": 5},  # 4 -> 5: no reply was owed in the record
]
"""Index N upgrades format N to N+1."""


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """What the store holds under one key, with the store revision to write against.

    `conversation` is None when there is none (revision 0) or the record cannot be read (an old
    or damaged record, which the next write replaces).
    """

    conversation: Conversation | None
    revision: int
