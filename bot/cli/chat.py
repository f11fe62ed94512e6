"""The conversation in a terminal: numbered choices, back, restart, why, summary; no token needed.

`local` (from `crampcheck chat --country XX`) is the user's country: urgent and emergency results
then name its emergency number, as on Telegram once a country is set.

Keys: numbers answer (a checklist takes several in one line, `1 3` or `1,3`, then `d`, or `u` for
"not sure about some of these"); `b` goes back, `r` starts again after asking, `q`, Ctrl-C or
Ctrl-D leave; on a result `m` prints the rest of it (causes, all advice), `w` why and `s` the
summary for a doctor, and nothing else; on the interim answer `t` goes on to the questions that
tailor the advice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from bot.engine.errors import EngineError
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.numbers.table import CountryNumbers
from bot.engine.primitives import localize
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Ask, Result, Step
from bot.engine.questionnaire.session import Session
from bot.render.questionnaire import (
    card_text,
    has_more,
    more_text,
    question_text,
    result_text,
    summary_text,
    why_text,
)

Read = Callable[[str], str]
Write = Callable[[str], object]
Clock = Callable[[], datetime]

QUIT = ("q", "quit", "exit")
YES = ("y", "yes", "j", "ja")
_NUMBERS = re.compile(r"^\d+(?:[\s,;]+\d+)*$")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Leave(Exception):
    """The user quit (q, Ctrl-C or Ctrl-D)."""


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
    chat = _Chat(kb, write=write, language=language, local=local, clock=clock)
    try:
        chat.loop(read)
    except (_Leave, EOFError, KeyboardInterrupt):
        write("\n")
    return chat.shown


class _Chat:
    """One terminal conversation: the session, what was shown, and how replies apply."""

    def __init__(
        self,
        kb: KnowledgeBase,
        *,
        write: Write,
        language: str,
        local: CountryNumbers | None,
        clock: Clock,
    ) -> None:
        self.kb = kb
        self.write = write
        self.language = language
        self.local = local
        self.clock = clock
        self.session, self.step = machine.start(kb)
        self.shown: Result | None = None

    def text(self, key: str) -> str:
        return self.kb.text(key, self.language)

    def loop(self, read: Read) -> None:
        redraw = True
        while True:
            if redraw:
                _show(self.kb, self.step, self.language, self.write, local=self.local)
            if isinstance(self.step, Result):
                self.shown = self.step
            reply = read("> ").strip().lower()
            if reply in QUIT:
                raise _Leave
            redraw = self.apply(reply, read)

    def apply(self, reply: str, read: Read) -> bool:
        """Apply one reply; tell whether the step changed (and so is shown again)."""
        if reply == "r":
            return self.restart(read)
        if isinstance(self.step, Result) and (
            reply in ("w", "s") or (reply == "m" and has_more(self.step))
        ):
            self.write("\n" + self.extra_text(self.step, reply) + "\n")
            return False
        try:
            self.session, self.step = self.move(reply)
        except (EngineError, ValueError):
            keys = "chat_result_keys" if isinstance(self.step, Result) else "chat_keys"
            self.write(f"{self.text('chat_invalid')} ({self.text(keys)}).\n")
            return False
        return True

    def extra_text(self, result: Result, key: str) -> str:
        if key == "w":
            return why_text(self.kb, result, self.language)
        if key == "m":
            return more_text(self.kb, result, self.language)
        return summary_text(self.kb, result, self.language, self.clock())

    def restart(self, read: Read) -> bool:
        if not self.session.answers and not self.session.ticked:
            self.session, self.step = machine.start(self.kb)
            return True
        self.write(self.text("chat_restart_confirm") + "\n")
        if read("> ").strip().lower() not in YES:
            self.write(self.text("chat_restart_kept") + "\n")
            return False
        self.session, self.step = machine.start(self.kb)
        return True

    def move(self, reply: str) -> tuple[Session, Step]:
        kb, session, step = self.kb, self.session, self.step
        if reply == "b":
            if not session.answers and not session.ticked:
                self.write(self.text("chat_at_start") + "\n")
                return session, step
            return machine.back(kb, session)
        if isinstance(step, Result):
            if reply == "t" and step.interim:
                return machine.tailor(kb, session)
            raise ValueError(reply)
        if isinstance(step.question, ChecklistQuestion):
            if reply in ("d", ""):
                return machine.done(kb, session)
            if reply == "u":
                return machine.unsure(kb, session)
            return _tick(kb, session, step, reply)
        return machine.answer(kb, session, int(reply) - 1)


def _tick(kb: KnowledgeBase, session: Session, step: Ask, reply: str) -> tuple[Session, Step]:
    """Tick every number in `reply` (`1 3`, `1,3`); an emergency tick ends it at once."""
    if not _NUMBERS.match(reply):
        raise ValueError(reply)
    numbers = [int(n) for n in re.split(r"[\s,;]+", reply)]
    if any(not 1 <= n <= len(step.options) for n in numbers):
        raise ValueError(reply)
    current: Step = step
    for number in dict.fromkeys(numbers):
        if not isinstance(current, Ask) or current.question.id != step.question.id:
            break
        session, current = machine.toggle(kb, session, number - 1)
    return session, current


def _show(
    kb: KnowledgeBase, step: Step, language: str, write: Write, *, local: CountryNumbers | None
) -> None:
    if step.cards:
        write("\n" + card_text(step.cards, language) + "\n")
    if isinstance(step, Result):
        write("\n" + result_text(kb, step, language, local=local) + "\n")
        if step.interim:
            write(f"\n  t. {kb.text('tailor', language)}\n")
        write(f"({kb.text('chat_result_keys', language)})\n")
        return
    if isinstance(step.question, ChecklistQuestion):
        _show_checklist(kb, step, language, write)
        return
    write("\n" + question_text(kb, step, language) + "\n")
    for number, option in enumerate(step.options, start=1):
        write(f"  {number}. {localize(option.label, language)}\n")
    write(f"({kb.text('chat_keys', language)})\n")


def _show_checklist(kb: KnowledgeBase, step: Ask, language: str, write: Write) -> None:
    """One list: number, tick box, label and detail; then the `d` line and the keys."""
    question = step.question
    assert isinstance(question, ChecklistQuestion)  # noqa: S101 - the caller checked
    write("\n" + localize(question.text, language) + "\n")
    for number, item in enumerate(question.items, start=1):
        mark = "☑" if item.finding in step.ticked else "☐"
        label = localize(item.label, language)
        detail = f": {localize(item.detail, language)}" if item.detail else ""
        write(f"  {number}. {mark} {label}{detail}\n")
    key = "done" if step.ticked else "none_of_these"
    write(f"  d. {kb.text(key, language)}\n")
    if question.unsure:
        write(f"  u. {kb.text('unsure_some', language)}\n")
    write(f"({kb.text('chat_checklist_hint', language)} {kb.text('chat_keys', language)})\n")
