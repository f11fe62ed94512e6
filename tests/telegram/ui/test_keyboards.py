"""Question keyboards: drawn once per question, ticks, Back and language, the revision filled in.

The template must give, for every question of the real knowledge base, byte for byte the text
drawing the keyboard button by button gives, at any revision, and keep every button's data
decodable with the screen's revision, whatever a label holds.
"""

from __future__ import annotations

import json

import pytest

from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase, Option
from bot.engine.questionnaire.machine import Ask
from bot.telegram.ui import keyboards
from bot.telegram.ui.callbacks import MAX_NUMBER, decode_callback
from bot.telegram.ui.keyboards import question_markup

REVISIONS = (0, 1, 7, 10, 123_456, MAX_NUMBER - 1)


def screens(kb: KnowledgeBase) -> list[Ask]:
    """Every question: nothing ticked, each item alone, everything ticked; with and without
    Back."""
    found = []
    for question in kb.questions:
        options = kb.options[question.id]
        ticks: list[tuple[str, ...]] = [()]
        if isinstance(question, ChecklistQuestion):
            ticks += [(option.value,) for option in options]
            ticks.append(tuple(option.value for option in options))
        for ticked in ticks:
            for can_go_back in (False, True):
                found.append(Ask(question, options, ticked, 0, (), can_go_back))
    return found


def data_of(markup: str) -> list[str]:
    rows = json.loads(markup)["inline_keyboard"]
    return [button["callback_data"] for row in rows for button in row]


@pytest.mark.parametrize("language", ["en", "nb"])
def test_every_question_keyboard_is_the_one_drawn_button_by_button(
    kb: KnowledgeBase, language: str
) -> None:
    keyboards._TEMPLATES.clear()
    for step in screens(kb):
        for revision in REVISIONS:
            at = Ask(step.question, step.options, step.ticked, revision, (), step.can_go_back)
            drawn = keyboards._drawn(kb, at, language)
            assert question_markup(kb, at, language) == drawn  # first: makes the template
            assert question_markup(kb, at, language) == drawn  # then: from it
            assert {decode_callback(data).revision for data in data_of(drawn)} == {revision}


def test_a_label_that_spells_button_data_changes_nothing(kb: KnowledgeBase) -> None:
    question = next(q for q in kb.questions if not isinstance(q, ChecklistQuestion))
    hostile = '"callback_data": "q:0:a0" \\ "q:0:'
    options = (Option(value="yes", label={"en": hostile, "nb": hostile}),)
    for revision in (0, 5):
        step = Ask(question, options, (), revision, (), True)
        markup = question_markup(kb, step, "en")
        assert markup == keyboards._drawn(kb, step, "en")
        assert json.loads(markup)["inline_keyboard"][0][0]["text"] == hostile
        assert {decode_callback(data).revision for data in data_of(markup)} == {revision}


def test_a_revision_out_of_range_is_refused_as_when_drawn(kb: KnowledgeBase) -> None:
    step = screens(kb)[0]
    question_markup(kb, step, "en")  # the template exists
    for revision in (-1, MAX_NUMBER):
        at = Ask(step.question, step.options, step.ticked, revision, (), step.can_go_back)
        with pytest.raises(ValueError, match="must be in"):
            question_markup(kb, at, "en")
