"""Inline keyboards for each screen, and the (text, keyboard) pair the adapter shows.

Options go one per row: labels can be long and the bot is used one-handed, often in a hurry.
Every label comes from the knowledge base; every callback datum from `callbacks.py`.

A question's or result's keyboard goes out with every press, so it is written straight as the
JSON text the Bot API takes (`KeyboardJson`), which PTB sends as it is: building PTB button
objects and serialising them again cost about a tenth of a press's CPU (docs/performance.md).
The rarer keyboards (check-in, /forget, /language) stay PTB objects. `Markup` is either.
"""

from __future__ import annotations

import dataclasses
import json
from typing import NewType

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.engine import checkins
from bot.engine.checkins import Reply
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.memo import IdentityTable
from bot.engine.numbers.table import CountryNumbers
from bot.engine.primitives import localize
from bot.engine.questionnaire.machine import Ask, Result, Step
from bot.render.questionnaire import has_more, question_text, result_text
from bot.telegram.ui.callbacks import (
    Action,
    Callback,
    CardAction,
    SummaryRequest,
    encode_callback,
    encode_card,
    encode_language,
    encode_offer,
    encode_reply,
    encode_summary,
    question_prefix,
)

KeyboardJson = NewType("KeyboardJson", str)
"""An inline keyboard as the Bot API's JSON text: {"inline_keyboard": [[{"text", ...}]]}."""
Markup = InlineKeyboardMarkup | KeyboardJson
Button = tuple[str, str]
"""A button's label and callback data."""
Rows = list[list[Button]]


def keyboard_json(rows: Rows) -> KeyboardJson:
    """Return `rows` of callback buttons as the Bot API's JSON text (as PTB would send them)."""
    keyboard = [[{"text": label, "callback_data": data} for label, data in row] for row in rows]
    return KeyboardJson(json.dumps({"inline_keyboard": keyboard}))


def as_object(markup: Markup) -> InlineKeyboardMarkup:
    """Return `markup` as a PTB object (for a bot that is not `CrampBot`)."""
    if isinstance(markup, InlineKeyboardMarkup):
        return markup
    rows = json.loads(markup)["inline_keyboard"]
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in row]
            for row in rows
        ]
    )


def callback_data(markup: Markup) -> list[str]:
    """Return the callback data of every button of `markup`, row by row."""
    rows = as_object(markup).inline_keyboard
    return [str(button.callback_data) for row in rows for button in row]


def screen(
    kb: KnowledgeBase, step: Step, language: str, *, local: CountryNumbers | None = None
) -> tuple[str, KeyboardJson]:
    """Return the text and the buttons that show `step` (`local`: the user's country)."""
    if isinstance(step, Result):
        text = result_text(kb, step, language, local=local)
        return text, result_markup(kb, step, language)
    return question_text(kb, step, language), question_markup(kb, step, language)


def question_markup(kb: KnowledgeBase, step: Ask, language: str) -> KeyboardJson:
    """Return one button per option (or ticked/unticked item, then Done), then Back/Restart.

    Every question screen's keyboard goes out with a press, and only its revision differs from
    the last time the same question was shown with the same ticks in the same language: it is
    drawn once as a template (`_template`), and each screen fills the revision in.
    """
    plain = (step.question.id, step.ticked, step.can_go_back, language)
    template = _TEMPLATES.get((kb, step.options), plain, lambda: _template(kb, step, language))
    if template is None:
        return _drawn(kb, step, language)
    return KeyboardJson((_DATA + question_prefix(step.revision)).join(template))


_DATA = '"callback_data": "'
"""What precedes each button's data in `keyboard_json`'s text. Inside a label every quote is
escaped, so this with a revision's prefix after it marks where a revision goes, and nothing
else."""
Template = tuple[str, ...] | None
"""A keyboard's text cut where each revision goes (None: draw it anew every time)."""
_TEMPLATES: IdentityTable[Template] = IdentityTable(limit=4096)
"""Question keyboards drawn lately, by knowledge base, options, question, ticks, Back and
language."""


def _template(kb: KnowledgeBase, step: Ask, language: str) -> Template:
    """Return the keyboard of `step` drawn at revision 0, cut where each button's revision is;
    None unless every button is a questionnaire button (`question_prefix`)."""
    drawn = _drawn(kb, dataclasses.replace(step, revision=0), language)
    parts = tuple(drawn.split(_DATA + question_prefix(0)))
    buttons = sum(len(row) for row in json.loads(drawn)["inline_keyboard"])
    return parts if len(parts) == buttons + 1 else None


def _drawn(kb: KnowledgeBase, step: Ask, language: str) -> KeyboardJson:
    """Return the keyboard of `step` (`question_markup`), drawn button by button."""
    if isinstance(step.question, ChecklistQuestion):
        rows = _checklist_rows(kb, step, language)
    else:
        rows = [
            [_button(localize(option.label, language), Callback("answer", step.revision, index))]
            for index, option in enumerate(step.options)
        ]
    navigation = [_plain(kb, "restart", revision=step.revision, language=language)]
    if step.can_go_back:
        navigation.insert(0, _plain(kb, "back", revision=step.revision, language=language))
    return keyboard_json([*rows, navigation])


def result_markup(kb: KnowledgeBase, result: Result, language: str) -> KeyboardJson:
    """Return [Tailor my advice] on an interim answer, then [More] [Why?] [Summary] [Restart]
    (no More under an emergency), then a row per check-in offered, then [Trip card]."""
    why = _plain(kb, "why", revision=result.revision, language=language)
    summary = (kb.text("summary", language), encode_summary(SummaryRequest(result.revision)))
    offers = [
        [(kb.text(f"checkin_offer_{offer}", language), encode_offer(result.revision, offer))]
        for offer in checkins.offers(kb, result)
    ]
    restart = _plain(kb, "restart", revision=result.revision, language=language)
    first = [why, summary, restart]
    if has_more(result):
        first.insert(0, _plain(kb, "more", revision=result.revision, language=language))
    tailor = [] if not result.interim else [
        [_plain(kb, "tailor", revision=result.revision, language=language)]
    ]  # fmt: skip
    return keyboard_json([*tailor, first, *offers, [card_button(kb, language)]])


def card_button(kb: KnowledgeBase, language: str) -> Button:
    """Return the button that opens /card: under the welcome and under every result."""
    return kb.text("trip_card_button", language), encode_card("open")


def welcome_markup(kb: KnowledgeBase, language: str) -> KeyboardJson:
    """Return the welcome's one button: the trip card (a `t:o` button never goes stale); it
    goes out with every /start."""
    return keyboard_json([[card_button(kb, language)]])


def pin_markup(kb: KnowledgeBase, language: str, message_id: int) -> InlineKeyboardMarkup:
    """Return the pin offer under a new card: [Pin it] [Not now], for card `message_id`."""
    choices: tuple[tuple[str, CardAction], ...] = (
        ("trip_card_pin_yes", "pin"),
        ("trip_card_pin_no", "no"),
    )
    buttons = [
        InlineKeyboardButton(kb.text(key, language), callback_data=encode_card(action, message_id))
        for key, action in choices
    ]
    return InlineKeyboardMarkup([buttons])


def checkin_markup(kb: KnowledgeBase, language: str) -> InlineKeyboardMarkup:
    """Return the check-in answers: [Better] [The same] / [Worse] [New symptoms]."""
    replies: tuple[Reply, ...] = ("better", "same", "worse", "new")
    buttons = [
        InlineKeyboardButton(
            kb.text(f"checkin_{reply}", language), callback_data=encode_reply(reply)
        )
        for reply in replies
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def forget_markup(kb: KnowledgeBase, language: str) -> InlineKeyboardMarkup:
    """Return the /forget confirmation: [Yes, delete] [No, keep]."""
    actions: tuple[Action, ...] = ("forget_yes", "forget_no")
    buttons = [
        InlineKeyboardButton(
            kb.text(action, language), callback_data=encode_callback(Callback(action))
        )
        for action in actions
    ]
    return InlineKeyboardMarkup([buttons])


def language_markup(kb: KnowledgeBase) -> InlineKeyboardMarkup:
    """Return one button per language, each named in its own language."""
    buttons = [
        InlineKeyboardButton(
            kb.text("language_name", language), callback_data=encode_language(language)
        )
        for language in kb.languages
    ]
    return InlineKeyboardMarkup([buttons])


def _checklist_rows(kb: KnowledgeBase, step: Ask, language: str) -> Rows:
    rows = []
    for index, option in enumerate(step.options):
        is_ticked = option.value in step.ticked
        label = f"{'☑' if is_ticked else '☐'} {localize(option.label, language)}"
        action: Action = "untick" if is_ticked else "toggle"  # what a press wants: idempotent
        rows.append([_button(label, Callback(action, step.revision, index))])
    label_key = "done" if step.ticked else "none_of_these"
    rows.append(
        [_plain(kb, "done", revision=step.revision, language=language, text_key=label_key)]
    )
    if isinstance(step.question, ChecklistQuestion) and step.question.unsure:
        unsure = _plain(
            kb, "unsure", revision=step.revision, language=language, text_key="unsure_some"
        )
        rows.append([unsure])
    return rows


def _plain(
    kb: KnowledgeBase, action: Action, *, revision: int, language: str, text_key: str = ""
) -> Button:
    """Return a button without index; its label is the kb text `text_key` (default: action)."""
    return _button(kb.text(text_key or action, language), Callback(action, revision))


def _button(label: str, callback: Callback) -> Button:
    return label, encode_callback(callback)
