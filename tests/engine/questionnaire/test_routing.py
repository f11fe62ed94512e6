"""Routing: whether an answer to a question can change what a person is told."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine.questionnaire.routing import _answers, can_change_outcome, outcome
from tests.engine.helpers import fact_sets, real_kb

KB = real_kb()


@settings(max_examples=200)
@given(facts=fact_sets(KB), index=st.integers(min_value=0, max_value=len(KB.questions) - 1))
def test_a_question_can_change_the_outcome_exactly_when_one_answer_changes_it(
    facts: dict[str, str], index: int
) -> None:
    """The check works the parts out lazily; it must agree with comparing whole outcomes."""
    question = KB.questions[index]
    baseline = outcome(KB, facts)
    changed = any(outcome(KB, facts | answer) != baseline for answer in _answers(question))

    assert can_change_outcome(KB, question, facts) is changed
    assert can_change_outcome(KB, question, facts, baseline) is changed
