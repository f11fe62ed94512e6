"""Callback data of the inline buttons: the only place that spells and parses it.

Questionnaire buttons carry `q:<revision>:<action>`, where the revision is the session's
(`Session.rev`) when the button was drawn, so a press on an old screen is recognised, and the
action is `a<i>` (answer option i), `t<i>` (toggle item i), `d` (done), `b` (back), `r` (restart)
or `w` (why). The /forget confirmation carries `f:y` or `f:n`. Telegram limits callback data to
64 bytes, and anyone can send any data, so decoding accepts only the canonical form.
`apply_callback` says what a decoded button does to a session, in engine terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from bot.engine import machine
from bot.engine.errors import InvalidAnswer
from bot.engine.machine import Result, Step
from bot.engine.models import KnowledgeBase
from bot.engine.session import Session

MAX_BYTES = 64
"""InlineKeyboardButton.callback_data: 1-64 bytes."""
MAX_NUMBER = 10**12
"""Revisions and indexes stay below this; longer digit strings are forged."""

Action = Literal["answer", "toggle", "done", "back", "restart", "why", "forget_yes", "forget_no"]
INDEXED: frozenset[Action] = frozenset({"answer", "toggle"})
_CODES: dict[Action, str] = {
    "answer": "a",
    "toggle": "t",
    "done": "d",
    "back": "b",
    "restart": "r",
    "why": "w",
}
_ACTIONS = {code: action for action, code in _CODES.items()}
_NUMBER = r"(0|[1-9][0-9]{0,11})"
# re.ASCII: \d and friends would accept other scripts' digits; the classes here are spelled out.
_QUESTION = re.compile(rf"q:{_NUMBER}:(?:([at]){_NUMBER}|([dbrw]))", re.ASCII)


@dataclass(frozen=True, slots=True)
class Callback:
    """One button's meaning: an action, the revision it was drawn at, and an index if any."""

    action: Action
    revision: int = 0
    index: int | None = None

    @property
    def is_forget(self) -> bool:
        return self.action in ("forget_yes", "forget_no")


def encode_callback(callback: Callback) -> str:
    """Return the callback data for `callback`; ValueError if invalid or over 64 bytes."""
    if callback.is_forget:
        return "f:y" if callback.action == "forget_yes" else "f:n"
    if (callback.index is not None) != (callback.action in INDEXED):
        raise ValueError(
            f"action {callback.action} takes {'no ' * (callback.index is not None)}index"
        )
    numbers = (callback.revision, callback.index or 0)
    if not all(0 <= number < MAX_NUMBER for number in numbers):
        raise ValueError(f"revision and index must be in 0..{MAX_NUMBER - 1}")
    index = "" if callback.index is None else str(callback.index)
    data = f"q:{callback.revision}:{_CODES[callback.action]}{index}"
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data is {len(data.encode())} bytes (limit {MAX_BYTES})")
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


def apply_callback(
    kb: KnowledgeBase, session: Session, callback: Callback
) -> tuple[Session, Step]:
    """Take the engine step a button stands for; InvalidAnswer when it does not fit the step."""
    if callback.action == "answer" and callback.index is not None:
        return machine.answer(kb, session, callback.index)
    if callback.action == "toggle" and callback.index is not None:
        return machine.toggle(kb, session, callback.index)
    if callback.action == "done":
        return machine.done(kb, session)
    if callback.action == "back":
        return machine.back(kb, session)
    if callback.action == "restart":
        return machine.start(kb)
    step = machine.current_step(kb, session)
    if callback.action == "why" and isinstance(step, Result):
        return session, step
    raise InvalidAnswer(f"action {callback.action} does not fit the current step")
