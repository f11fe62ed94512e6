"""Inline keyboards for each screen, and the (text, keyboard) pair the adapter shows.

Options go one per row: labels can be long and the bot is used one-handed, often in a hurry.
Every label comes from the knowledge base; every callback datum from `callbacks.py`.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.engine import followup
from bot.engine.followup import Reply
from bot.engine.machine import Ask, Result, Step
from bot.engine.models import ChecklistQuestion, KnowledgeBase
from bot.engine.numbers import CountryNumbers
from bot.engine.primitives import localize
from bot.render import question_text, result_text
from bot.telegram.callbacks import (
    Action,
    Callback,
    SummaryRequest,
    encode_callback,
    encode_language,
    encode_offer,
    encode_reply,
    encode_summary,
)

Rows = list[list[InlineKeyboardButton]]


def screen(
    kb: KnowledgeBase, step: Step, language: str, *, local: CountryNumbers | None = None
) -> tuple[str, InlineKeyboardMarkup]:
    """Return the text and the buttons that show `step` (`local`: the user's country)."""
    if isinstance(step, Result):
        text = result_text(kb, step, language, local=local)
        return text, result_markup(kb, step, language)
    return question_text(kb, step, language), question_markup(kb, step, language)


def question_markup(kb: KnowledgeBase, step: Ask, language: str) -> InlineKeyboardMarkup:
    """Return one button per option (or ticked/unticked item, then Done), then Back/Restart."""
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
    return InlineKeyboardMarkup([*rows, navigation])


def result_markup(kb: KnowledgeBase, result: Result, language: str) -> InlineKeyboardMarkup:
    """Return [Why?] [Summary] [Restart] under a result, then a row per check-in offered."""
    why = _plain(kb, "why", revision=result.revision, language=language)
    summary = InlineKeyboardButton(
        kb.text("summary", language),
        callback_data=encode_summary(SummaryRequest(result.revision)),
    )
    offers = [
        [
            InlineKeyboardButton(
                kb.text(f"checkin_offer_{offer}", language),
                callback_data=encode_offer(result.revision, offer),
            )
        ]
        for offer in followup.offers(kb, result)
    ]
    restart = _plain(kb, "restart", revision=result.revision, language=language)
    return InlineKeyboardMarkup([[why, summary, restart], *offers])


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
    yes = _button(kb.text("forget_yes", language), Callback("forget_yes"))
    return InlineKeyboardMarkup(
        [[yes, _button(kb.text("forget_no", language), Callback("forget_no"))]]
    )


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
        mark = "☑" if option.value in step.ticked else "☐"
        label = f"{mark} {localize(option.label, language)}"
        rows.append([_button(label, Callback("toggle", step.revision, index))])
    label_key = "done" if step.ticked else "none_of_these"
    rows.append(
        [_plain(kb, "done", revision=step.revision, language=language, text_key=label_key)]
    )
    return rows


def _plain(
    kb: KnowledgeBase, action: Action, *, revision: int, language: str, text_key: str = ""
) -> InlineKeyboardButton:
    """Return a button without index; its label is the kb text `text_key` (default: action)."""
    return _button(kb.text(text_key or action, language), Callback(action, revision))


def _button(label: str, callback: Callback) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, callback_data=encode_callback(callback))
