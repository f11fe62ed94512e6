"""The simulated users: full questionnaires played through the real engine, as button data.

Each user sends /start, then presses buttons until a result, exactly as the bot would draw them:
the script is computed with the same engine, keyboards and callback codes the bot runs, so the
fake Bot API can check that every press it sends is on the screen the bot last showed. The
policy picks answers (and, on a checklist, sometimes ticks one item before Done) at random, but
only steps that the issue's *press* is made of: a step that would show a first-aid card, or an
urgent result that offers "Share location", sends extra messages, so such a branch is avoided
(and a user whose every branch hits one is drawn again). Every update then costs the bot exactly:

* ``/start``: two sendMessage calls (welcome, first question);
* a press: answerCallbackQuery + editMessageText (in either order: CrampCheck answers a press and
  shows its screen at once, issue 12), and one state commit.

The baselines get the same scripts and make the same calls per update.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache

from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.lint import load_knowledge_base
from bot.engine.questionnaire.machine import Ask, Result, Step, start
from bot.engine.questionnaire.session import Session
from bot.render.questionnaire import shows_local_number, welcome_text
from bot.telegram.ui.callbacks import apply_callback, decode_callback
from bot.telegram.ui.keyboards import callback_data, screen

START = "/start"
LANGUAGE = "en"
EXPECTED_CALLS = {
    "text": ("sendMessage", "sendMessage"),
    "press": ("answerCallbackQuery", "editMessageText"),
}
"""The Bot API calls one update costs, by kind: what every stack must make, in any order."""
MAX_TICKS = 2
"""Checklist items a user ticks at most before pressing Done."""
UNIQUE = 48
"""Different questionnaires played; users take them in turn."""


@dataclass(frozen=True)
class Screen:
    """What a baseline shows: the first question's text and keyboard (Bot API JSON)."""

    text: str
    markup: dict[str, object]


@cache
def knowledge_base() -> KnowledgeBase:
    """Return the real knowledge base (loaded once)."""
    return load_knowledge_base()


def is_plain(step: Step) -> bool:
    """Tell whether showing `step` is one edit: no card, no location offer after a result."""
    if step.cards:
        return False
    return not (isinstance(step, Result) and shows_local_number(step))


def buttons(kb: KnowledgeBase, step: Ask, ticks: int) -> list[str]:
    """Return the data of the buttons a user may press: answers, ticks, Done (not Back)."""
    _, markup = screen(kb, step, LANGUAGE)
    data = callback_data(markup)
    wanted = [item for item in data if ":a" in item]
    if isinstance(step.question, ChecklistQuestion):
        ticked = [item for item in data if ":t" in item and ticks < MAX_TICKS]
        wanted = ticked + [item for item in data if item.endswith(":d")] * (1 + len(ticked))
    return wanted


def play(kb: KnowledgeBase, rng: random.Random) -> list[str] | None:
    """Return one questionnaire's button data, or None if every branch showed a card."""
    session, step = start(kb)
    if not is_plain(step):
        return None
    pressed: list[str] = []
    ticks = 0
    while isinstance(step, Ask):
        found = _pick(kb, session, step, rng, ticks)
        if found is None:
            return None
        data, session, next_step = found
        ticks = ticks + 1 if ":t" in data else 0
        pressed.append(data)
        step = next_step
    return pressed


def _pick(
    kb: KnowledgeBase, session: Session, step: Ask, rng: random.Random, ticks: int
) -> tuple[str, Session, Step] | None:
    options = buttons(kb, step, ticks)
    rng.shuffle(options)
    for data in options:
        new_session, new_step = apply_callback(kb, session, decode_callback(data))
        if is_plain(new_step):
            return data, new_session, new_step
    return None


def scripts(total_updates: int, *, seed: int = 6, unique: int = UNIQUE) -> list[list[str]]:
    """Return users' scripts (``/start`` then button data) adding up to `total_updates`.

    `unique` different questionnaires are played and handed out in turn: the engine is what
    makes them (about a millisecond a press), and the bot's work does not depend on which.
    """
    kb = knowledge_base()
    rng = random.Random(seed)
    played: list[list[str]] = []
    while len(played) < unique:
        presses = play(kb, rng)
        if presses is not None:
            played.append([START, *presses])
    users: list[list[str]] = []
    count = 0
    while count < total_updates:
        users.append(played[len(users) % unique])
        count += len(users[-1])
    return users


def start_scripts(users: int) -> list[list[str]]:
    """Return `users` scripts of one /start each: every user opens one session."""
    return [[START] for _ in range(users)]


def first_screen() -> Screen:
    """Return the first question as the bot shows it, for the baselines to send."""
    kb = knowledge_base()
    _, step = start(kb)
    text, markup = screen(kb, step, LANGUAGE)
    return Screen(text, json.loads(markup))


def welcome() -> str:
    """Return the welcome text /start sends first, for the baselines to send."""
    return welcome_text(knowledge_base(), LANGUAGE)
