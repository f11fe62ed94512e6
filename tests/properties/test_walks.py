"""Hypothesis properties over the real knowledge/: walks end, errors stay in the engine's tree,
red flags only raise the level, sessions round-trip and stay small, run_case is deterministic.
"""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.engine.errors import EngineError, InvalidAnswer, SessionFinished
from bot.engine.kb.conditions import FindingIs
from bot.engine.kb.models import ChecklistQuestion
from bot.engine.primitives import Level
from bot.engine.questionnaire.assess import MAX_STEPS, run_case
from bot.engine.questionnaire.machine import (
    Ask,
    Result,
    Step,
    answer,
    back,
    current_step,
    done,
    start,
    toggle,
)
from bot.engine.questionnaire.scoring import triage
from bot.engine.questionnaire.session import Session
from tests.engine.helpers import fact_sets, real_kb, walk

KB = real_kb()
RED_FLAGS_WITH_YES = sorted(f.code for f in KB.findings if f.red_flag and "yes" in f.values)
EMERGENCY_TRIGGERS = sorted(
    (rule.when.finding, value)
    for rule in KB.rules
    if rule.level == "emergency" and isinstance(rule.when, FindingIs)
    for value in rule.when.values
)
"""(finding, value) pairs that force an emergency on their own."""
EMERGENCY_NEVER = {
    "drink_to_thirst", "electrolyte_drink", "more_plain_water", "continue_exercise",
    "wait_and_see", "stretch_or_massage",
}  # fmt: skip
SESSION_BUDGET = 1024
"""Bytes of session JSON a store keeps per user, for a complete questionnaire."""

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _random_walk(data: st.DataObject) -> tuple[list[tuple[Session, Step]], int]:
    """Walk from start to a Result with random answers and ticks, never going back."""
    session, step = start(KB)
    steps: list[tuple[Session, Step]] = [(session, step)]
    taps = 0
    while isinstance(step, Ask):
        assert taps <= MAX_STEPS, "no result within the bound"
        question = step.question
        if isinstance(question, ChecklistQuestion):
            indexes = range(len(question.items))
            for index in data.draw(st.lists(st.sampled_from(indexes), unique=True)):
                session, step = toggle(KB, session, index)
                steps.append((session, step))
                taps += 1
                if isinstance(step, Result):
                    break
            if isinstance(step, Ask):
                session, step = done(KB, session)
        else:
            session, step = answer(
                KB, session, data.draw(st.sampled_from(range(len(step.options))))
            )
        steps.append((session, step))
        taps += 1
    return steps, taps


@SETTINGS
@given(st.data())
def test_a_random_walk_without_back_reaches_a_result_within_the_bound(
    data: st.DataObject,
) -> None:
    steps, taps = _random_walk(data)

    assert isinstance(steps[-1][1], Result)
    assert taps <= MAX_STEPS
    screens = [s.question.id for _, s in steps if isinstance(s, Ask)]
    assert len(set(screens)) <= len(KB.questions)


@SETTINGS
@given(st.data())
def test_a_walk_result_level_is_the_triage_of_its_findings(data: st.DataObject) -> None:
    steps, _ = _random_walk(data)
    result = steps[-1][1]
    assert isinstance(result, Result)

    assert result.level is triage(KB, result.findings)[0]


@SETTINGS
@given(st.data())
def test_sessions_of_a_walk_round_trip_through_json(data: st.DataObject) -> None:
    steps, _ = _random_walk(data)

    for session, _step in steps:
        assert Session.load(session.dump()) == session


@SETTINGS
@given(st.data())
def test_each_step_of_a_walk_is_what_its_session_shows_afresh(data: st.DataObject) -> None:
    """The engine remembers what it worked out per session object (a tick reuses the routing
    of the session it ticks): the same session read back from JSON, a new object, must show
    the same step."""
    steps, _ = _random_walk(data)
    for session, step in steps:
        fresh = Session.load(session.dump())
        assert fresh is not session
        assert current_step(KB, fresh) == current_step(KB, session)
        if not step.cards:  # cards belong to the press that brought the step
            assert current_step(KB, fresh) == step


@SETTINGS
@given(st.data())
def test_a_complete_walk_session_stays_under_1_kb(data: st.DataObject) -> None:
    """A complete questionnaire fits the per-user storage budget of 1 KB of JSON."""
    steps, _ = _random_walk(data)
    text = steps[-1][0].dump()

    assert len(text.encode()) < SESSION_BUDGET, text


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["answer", "toggle", "done", "back"]), st.integers(-2, 12)),
    max_size=80,
)


def _act(session: Session, action: str, index: int) -> tuple[Session, Step]:
    match action:
        case "answer":
            return answer(KB, session, index)
        case "toggle":
            return toggle(KB, session, index)
        case "done":
            return done(KB, session)
    return back(KB, session)


@SETTINGS
@given(ACTIONS)
def test_any_sequence_of_actions_raises_only_the_engines_own_errors(
    actions: list[tuple[str, int]],
) -> None:
    session, _ = start(KB)
    for action, index in actions:
        try:
            updated, step = _act(session, action, index)
        except (InvalidAnswer, SessionFinished):
            continue
        assert updated.rev == session.rev + 1
        assert Session.load(updated.dump()) == updated
        assert step.revision == updated.rev
        assert type(current_step(KB, updated)) is type(step)
        session = updated


@SETTINGS
@given(ACTIONS)
def test_what_the_engine_remembers_of_a_session_is_what_it_would_work_out_afresh(
    actions: list[tuple[str, int]],
) -> None:
    """The engine works a session object out once (machine._known): the step it returns for
    that object, before or after, is the step of an equal session read back from its text."""
    session, _ = start(KB)
    for action, index in actions:
        try:
            updated, step = _act(session, action, index)
        except EngineError:
            continue
        afresh = current_step(KB, Session.load(updated.dump()))
        assert current_step(KB, updated) == afresh
        if not step.cards:  # the press's own step is the screen's
            assert step == afresh
        renumbered = updated.model_copy(update={"rev": updated.rev + 5})  # as a restart does
        assert current_step(KB, renumbered).revision == updated.rev + 5
        session = updated


@SETTINGS
@given(ACTIONS)
def test_back_always_works_after_a_successful_step(actions: list[tuple[str, int]]) -> None:
    session, _ = start(KB)
    for action, index in actions:
        try:
            updated, _step = _act(session, action, index)
        except EngineError:
            continue
        if action != "back" and (updated.answers or updated.ticked or updated.tailor is not None):
            restored, _ = back(KB, updated)
            assert restored.answers == session.answers[: len(restored.answers)]
        session = updated


@SETTINGS
@given(fact_sets(KB), st.sampled_from(RED_FLAGS_WITH_YES))
def test_answering_yes_to_one_more_red_flag_never_lowers_the_level(
    facts: dict[str, str], flag: str
) -> None:
    assume(facts.get(flag) != "yes")
    before = run_case(KB, facts).result.level

    after = run_case(KB, {**facts, flag: "yes"}).result.level

    assert after >= before


@settings(SETTINGS, max_examples=30)
@given(fact_sets(KB))
def test_run_case_is_deterministic(facts: dict[str, str]) -> None:
    reordered = dict(reversed(list(facts.items())))

    assert run_case(KB, facts) == run_case(KB, facts) == run_case(KB, reordered)


@SETTINGS
@given(fact_sets(KB), st.sampled_from(EMERGENCY_TRIGGERS))
def test_an_emergency_result_never_advises_drinking_carrying_on_waiting_or_stretching(
    facts: dict[str, str], trigger: tuple[str, str]
) -> None:
    code, value = trigger
    result = run_case(KB, {**facts, code: value}).result
    assume(result.level is Level.EMERGENCY)

    assert not EMERGENCY_NEVER & set(result.advice_codes)


@SETTINGS
@given(fact_sets(KB))
def test_a_case_walk_sessions_round_trip_and_revisions_count_steps(facts: dict[str, str]) -> None:
    steps = walk(KB, facts).steps

    assert [session.rev for session, _ in steps] == list(range(len(steps)))
    assert all(Session.load(session.dump()) == session for session, _ in steps)
