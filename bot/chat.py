"""The conversation in a terminal: numbered choices, back, restart, why, summary; no token needed.

`local` (from `crampcheck chat --country XX`) is the user's country: urgent and emergency results
then name its emergency number, as on Telegram once a country is set.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from bot.engine import machine
from bot.engine.errors import EngineError
from bot.engine.machine import Result, Step
from bot.engine.models import ChecklistQuestion, KnowledgeBase
from bot.engine.numbers import CountryNumbers
from bot.engine.primitives import localize
from bot.engine.session import Session
from bot.render import card_text, question_text, result_text, summary_text, why_text

Read = Callable[[str], str]
Write = Callable[[str], object]
Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def run_chat(
    kb: KnowledgeBase,
    *,
    read: Read,
    write: Write,
    language: str = "en",
    local: CountryNumbers | None = None,
    clock: Clock = _utc_now,
) -> Result | None:
    """Hold one conversation; return the last result shown, if any (None on quit).

    `clock` dates the summary (key `s` on a result).
    """
    write(f"{kb.text('welcome', language)}\n{kb.text('disclaimer', language)}\n")
    session, step = machine.start(kb)
    shown: Result | None = None
    while True:
        _show(kb, step, language, write, local=local)
        if isinstance(step, Result):
            shown = step
        try:
            reply = read("> ").strip().lower()
        except EOFError:
            return shown
        if reply in ("q", "quit", "exit"):
            return shown
        if reply == "s" and isinstance(step, Result):
            write(summary_text(kb, step, language, clock()) + "\n")
            continue
        try:
            session, step = _apply(kb, session, step, reply, write, language)
        except (EngineError, ValueError):
            write(f"{kb.text('chat_invalid', language)} ({kb.text('chat_keys', language)}).\n")


def _apply(
    kb: KnowledgeBase, session: Session, step: Step, reply: str, write: Write, language: str
) -> tuple[Session, Step]:
    if reply == "r":
        return machine.start(kb)
    if reply == "b":
        return machine.back(kb, session)
    if isinstance(step, Result):
        if reply == "w":
            write(why_text(kb, step, language) + "\n")
            return session, step
        raise ValueError(reply)
    if isinstance(step.question, ChecklistQuestion):
        if reply in ("d", ""):
            return machine.done(kb, session)
        return machine.toggle(kb, session, int(reply) - 1)
    return machine.answer(kb, session, int(reply) - 1)


def _show(
    kb: KnowledgeBase, step: Step, language: str, write: Write, *, local: CountryNumbers | None
) -> None:
    if step.cards:
        write("\n" + card_text(step.cards, language) + "\n")
    if isinstance(step, Result):
        write("\n" + result_text(kb, step, language, local=local) + "\n")
        write(f"\n({kb.text('chat_result_keys', language)})\n")
        return
    write("\n" + question_text(kb, step, language) + "\n")
    for number, option in enumerate(step.options, start=1):
        label = localize(option.label, language)
        if isinstance(step.question, ChecklistQuestion):
            label = ("☑ " if option.value in step.ticked else "☐ ") + label
        write(f"  {number}. {label}\n")
    if isinstance(step.question, ChecklistQuestion):
        key = "done" if step.ticked else "none_of_these"
        write(f"  d. {kb.text(key, language)}\n")
    write(f"({kb.text('chat_keys', language)})\n")
