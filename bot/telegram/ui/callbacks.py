"""Callback data of the inline buttons: the only place that spells and parses it.

Questionnaire buttons carry `q:<revision>:<action>`, where the revision is the session's
(`Session.rev`) when the button was drawn, so a press on an old screen is recognised, and the
action is `a<i>` (answer option i), `t<i>` (toggle item i), `d` (done), `u` (not sure about some of
these), `b` (back), `r` (restart), `w` (why), `c` (continue from the interim answer: tailor my
advice) or `m` (more: the rest of the result). The /forget confirmation carries `f:y` or `f:n`. A
follow-up offer under a result carries `c:<revision>:h` (in 30 minutes) or `c:<revision>:m` (in the
morning), and a reply to a check-in `k:b`, `k:s`, `k:w` or `k:n` (better, the same, worse, new
symptoms). Telegram limits callback data to 64 bytes, and anyone can send any data, so decoding
accepts only the canonical form. Summary (`s:`), country (`g:`), sweat (`p:`) and trip-card
(`t:`) buttons are described at their section. `apply_callback` says what a decoded button does
to a session, in engine terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.engine.checkins import Offer, Reply
from bot.engine.errors import InvalidAnswer
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Ask, Result, Step
from bot.engine.questionnaire.session import Session
from bot.engine.sweat.flow import Choice

MAX_BYTES = 64
"""InlineKeyboardButton.callback_data: 1-64 bytes."""
MAX_NUMBER = 10**12
"""Revisions and indexes stay below this; longer digit strings are forged."""

Action = Literal[
    "answer",
    "toggle",
    "untick",
    "done",
    "unsure",
    "back",
    "restart",
    "why",
    "tailor",
    "more",
    "forget_yes",
    "forget_no",
]
INDEXED: frozenset[Action] = frozenset({"answer", "toggle", "untick"})
TICKS: frozenset[Action] = frozenset({"toggle", "untick", "done", "unsure"})
"""Presses on a checklist that stay valid while it is shown: ticking is idempotent ("toggle"
ticks an item drawn unticked, "untick" unticks one drawn ticked), and Done takes the ticks as
they stand, so a press on a rendering a few ticks old means what the person meant."""
_CODES: dict[Action, str] = {
    "answer": "a",
    "toggle": "t",
    "untick": "x",
    "done": "d",
    "back": "b",
    "restart": "r",
    "why": "w",
    "unsure": "u",
    "tailor": "c",
    "more": "m",
}
_ACTIONS = {code: action for action, code in _CODES.items()}
_NUMBER = r"(0|[1-9][0-9]{0,11})"
# re.ASCII: \d and friends would accept other scripts' digits; the classes here are spelled out.
_QUESTION = re.compile(rf"q:{_NUMBER}:(?:([atx]){_NUMBER}|([dbrwucm]))", re.ASCII)


@dataclass(frozen=True, slots=True)
class Callback:
    """One button's meaning: an action, the revision it was drawn at, and an index if any."""

    action: Action
    revision: int = 0
    index: int | None = None

    @property
    def is_forget(self) -> bool:
        return self.action in ("forget_yes", "forget_no")


def question_prefix(revision: int) -> str:
    """Return how the data of every questionnaire button drawn at `revision` begins."""
    if not 0 <= revision < MAX_NUMBER:
        raise ValueError(f"revision and index must be in 0..{MAX_NUMBER - 1}")
    return f"q:{revision}:"


def encode_callback(callback: Callback) -> str:
    """Return the callback data for `callback`; ValueError if invalid or over 64 bytes."""
    action, revision, index = callback.action, callback.revision, callback.index
    if callback.is_forget:
        return "f:y" if action == "forget_yes" else "f:n"
    if (index is not None) != (action in INDEXED):
        raise ValueError(f"action {action} takes {'no ' * (index is not None)}index")
    if not (index is None or 0 <= index < MAX_NUMBER):
        raise ValueError(f"revision and index must be in 0..{MAX_NUMBER - 1}")
    data = f"{question_prefix(revision)}{_CODES[action]}{'' if index is None else index}"
    if len(data) > MAX_BYTES:  # ASCII only: one byte a character
        raise ValueError(f"callback data is {len(data)} bytes (limit {MAX_BYTES})")
    return data


def decode_callback(data: object) -> Callback:
    """Parse callback data; raise ValueError on anything but the canonical encoding."""
    if not isinstance(data, str) or len(data.encode("utf-8", "replace")) > MAX_BYTES:
        raise ValueError("callback data must be a string of at most 64 bytes")
    if data in ("f:y", "f:n"):
        return Callback("forget_yes" if data == "f:y" else "forget_no")
    match = _QUESTION.fullmatch(data)
    if match is None:
        raise ValueError("malformed callback data")
    revision, indexed, index, plain = match.groups()
    if indexed is not None:
        return Callback(_ACTIONS[indexed], int(revision), int(index))
    return Callback(_ACTIONS[plain], int(revision))


def is_reply_only(data: object) -> bool:
    """Tell whether a button only asks for a message (Why?, More, the summary), changing nothing.

    Such a press may be handled again when it comes back late (after a kill): it can undo nothing.
    """
    if not isinstance(data, str):
        return False
    if data.startswith("s:"):
        return True
    try:
        return decode_callback(data).action in ("why", "more")
    except ValueError:
        return False


LANGUAGE_PREFIX = "l:"
_LANGUAGE = re.compile(r"l:([a-z]{2})", re.ASCII)


def encode_language(language: str) -> str:
    """Return the callback data of the /language button for `language` (`l:<code>`)."""
    data = f"{LANGUAGE_PREFIX}{language}"
    if _LANGUAGE.fullmatch(data) is None:
        raise ValueError(f"not a two-letter language code: {language!r}")
    return data


def decode_language(data: object) -> str:
    """Return the language code of /language button data; ValueError on anything else."""
    match = _LANGUAGE.fullmatch(data) if isinstance(data, str) else None
    if match is None:
        raise ValueError("malformed language button data")
    return match.group(1)


_OFFER_CODES: dict[Offer, str] = {"30min": "h", "morning": "m"}
_OFFERS = {code: offer for offer, code in _OFFER_CODES.items()}
_OFFER = re.compile(rf"c:{_NUMBER}:([hm])", re.ASCII)
_REPLY_CODES: dict[Reply, str] = {"better": "b", "same": "s", "worse": "w", "new": "n"}
_REPLIES = {code: reply for reply, code in _REPLY_CODES.items()}
_REPLY = re.compile(r"k:([bswn])", re.ASCII)


def encode_offer(revision: int, offer: Offer) -> str:
    """Return the data of a follow-up button under the result drawn at `revision`."""
    if not 0 <= revision < MAX_NUMBER:
        raise ValueError(f"revision must be in 0..{MAX_NUMBER - 1}")
    return f"c:{revision}:{_OFFER_CODES[offer]}"


def decode_offer(data: object) -> tuple[int, Offer]:
    """Return the revision and the offer of follow-up button data; ValueError on anything else."""
    match = _OFFER.fullmatch(data) if isinstance(data, str) else None
    if match is None:
        raise ValueError("malformed follow-up button data")
    return int(match.group(1)), _OFFERS[match.group(2)]


def encode_reply(reply: Reply) -> str:
    """Return the data of a check-in answer button (`k:<code>`)."""
    return f"k:{_REPLY_CODES[reply]}"


def decode_reply(data: object) -> Reply:
    """Return the check-in answer a button stands for; ValueError on anything else."""
    match = _REPLY.fullmatch(data) if isinstance(data, str) else None
    if match is None:
        raise ValueError("malformed check-in answer data")
    return _REPLIES[match.group(1)]


def apply_callback(
    kb: KnowledgeBase, session: Session, callback: Callback
) -> tuple[Session, Step]:
    """Take the engine step a button stands for; InvalidAnswer when it does not fit the step."""
    if callback.action == "answer" and callback.index is not None:
        return machine.answer(kb, session, callback.index)
    if callback.action in ("toggle", "untick") and callback.index is not None:
        shown = machine.current_step(kb, session)
        if isinstance(shown, Ask) and 0 <= callback.index < len(shown.options):
            is_ticked = shown.options[callback.index].value in shown.ticked
            if is_ticked == (callback.action == "toggle"):  # as the press wants it already
                return session, shown
        return machine.toggle(kb, session, callback.index)
    if callback.action == "done":
        return machine.done(kb, session)
    if callback.action == "unsure":
        return machine.unsure(kb, session)
    if callback.action == "tailor":
        return machine.tailor(kb, session)
    if callback.action == "back":
        return machine.back(kb, session)
    if callback.action == "restart":
        return machine.start(kb)
    step = machine.current_step(kb, session)
    if callback.action in ("why", "more") and isinstance(step, Result):
        return session, step
    raise InvalidAnswer(f"action {callback.action} does not fit the current step")


# --- summary (s:), country (g:) and /sweat (p:) buttons -----------------------------
# `s:<revision>` asks for the summary of the result drawn at that revision, in the conversation's
# language; `s:<revision>:<language>:<epoch seconds>` for it in another language, dated like the
# first. `g:<CC>` picks a country (ISO 3166-1 alpha-2). `p:<step>:<y|n|s>` answers /sweat
# question asked at that step with Yes, No or Skip.

_SUMMARY = re.compile(rf"s:{_NUMBER}(?::([a-z]{{2}}):{_NUMBER})?", re.ASCII)
_COUNTRY = re.compile(r"g:([A-Z]{2})", re.ASCII)
_SWEAT = re.compile(rf"p:{_NUMBER}:([yns])", re.ASCII)
_CHOICE_CODES: dict[Choice, str] = {"yes": "y", "no": "n", "skip": "s"}
_CHOICES = {code: choice for choice, code in _CHOICE_CODES.items()}


@dataclass(frozen=True, slots=True)
class SummaryRequest:
    """A summary button: the result's revision, and the language and time when not the first."""

    revision: int
    language: str | None = None
    when: int | None = None
    """Epoch seconds of the first summary, so that a translation carries the same time."""


def encode_summary(request: SummaryRequest) -> str:
    """Return the data of a summary button; ValueError if malformed or over 64 bytes."""
    data = f"s:{request.revision}"
    if request.language is not None or request.when is not None:
        data += f":{request.language}:{request.when}"
    return _checked(_SUMMARY, data)


def decode_summary(data: object) -> SummaryRequest:
    """Parse summary button data; ValueError on anything but the canonical form."""
    match = _SUMMARY.fullmatch(data) if isinstance(data, str) else None
    if match is None:
        raise ValueError("malformed summary button data")
    revision, language, when = match.groups()
    return SummaryRequest(int(revision), language, None if when is None else int(when))


def encode_country(code: str) -> str:
    """Return the data of a country button (`g:<CC>`)."""
    return _checked(_COUNTRY, f"g:{code}")


def decode_country(data: object) -> str:
    """Return the country code of a country button; ValueError on anything else."""
    match = _COUNTRY.fullmatch(data) if isinstance(data, str) else None
    if match is None:
        raise ValueError("malformed country button data")
    return match.group(1)


def encode_sweat(step: int, choice: Choice) -> str:
    """Return the data of a sweat button: the step it was drawn at and the choice."""
    return _checked(_SWEAT, f"p:{step}:{_CHOICE_CODES[choice]}")


def decode_sweat(data: object) -> tuple[int, Choice]:
    """Return (step, choice) of sweat button data; ValueError on anything else."""
    match = _SWEAT.fullmatch(data) if isinstance(data, str) else None
    if match is None:
        raise ValueError("malformed sweat button data")
    return int(match.group(1)), _CHOICES[match.group(2)]


def _checked(pattern: re.Pattern[str], data: str) -> str:
    """Return `data` if it is canonical and within 64 bytes; ValueError otherwise."""
    if pattern.fullmatch(data) is None or len(data.encode()) > MAX_BYTES:
        raise ValueError(f"not valid callback data: {data!r}")
    return data


# --- trip-card (t:) buttons -------------------------------------------------------------------
# `t:o` opens /card (under the welcome and every result); `t:p:<message id>` pins the card sent
# as that message, `t:n:<message id>` declines (under the pin offer). A pin button whose card
# has been replaced or deleted since is recognised by its message id.

CardAction = Literal["open", "pin", "no"]
_CARD = re.compile(rf"t:(?:(o)|([pn]):{_NUMBER})", re.ASCII)
_CARD_CODES: dict[CardAction, str] = {"open": "o", "pin": "p", "no": "n"}
_CARD_ACTIONS = {code: action for action, code in _CARD_CODES.items()}


def encode_card(action: CardAction, message_id: int | None = None) -> str:
    """Return the data of a trip-card button; ValueError if malformed or over 64 bytes."""
    if (message_id is None) != (action == "open"):
        raise ValueError(f"card action {action} takes {'no ' * (action == 'open')}message id")
    suffix = "" if message_id is None else f":{message_id}"
    return _checked(_CARD, f"t:{_CARD_CODES[action]}{suffix}")


def decode_card(data: object) -> tuple[CardAction, int | None]:
    """Return (action, card message id) of trip-card button data; ValueError on anything else."""
    match = _CARD.fullmatch(data) if isinstance(data, str) else None
    if match is None:
        raise ValueError("malformed trip-card button data")
    opened, action, message_id = match.groups()
    if opened is not None:
        return "open", None
    return _CARD_ACTIONS[action], int(message_id)
