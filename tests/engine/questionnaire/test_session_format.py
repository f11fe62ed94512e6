"""Session format 2: answers stored as one object (q -> value), format 1 upgraded on load.

The literals below are the exact JSON each format writes; the property tests walk the real
knowledge base and check that every session round-trips, and that its format-1 spelling (as
the previous release wrote it) loads to the same session.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.engine.errors import EngineError
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire.machine import answer, back, done, start, start_at, toggle
from bot.engine.questionnaire.session import FORMAT, Answer, Session
from tests.engine.helpers import fact_sets, real_kb, walk

KB = real_kb()
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SINGLE = Answer(q="now", v="no")
CHECKLIST = Answer(q="flags", v=("calf", "dizzy"))
EMPTY_CHECKLIST = Answer(q="flags", v=())
PARTIAL = Answer(q="flags", v=("chest_pain",), partial=True)


def _session(*answers: Answer, **fields: object) -> Session:
    fields = {"format": FORMAT, "kb": "engine.1", **fields, "answers": answers}
    return Session.model_validate(fields)


def _as_format_1(session: Session) -> str:
    """Return the JSON format 1 wrote for `session`: answers a list of {q, v, partial}.

    Like format 1's dump it leaves defaults out (its loader took them written out as well).
    """
    listed = [
        {"q": a.q, "v": a.v if isinstance(a.v, str) else list(a.v)}
        | ({"partial": True} if a.partial else {})
        for a in session.answers
    ]
    fields = {
        "format": 1,
        "kb": session.kb,
        "rev": session.rev,
        "answers": listed,
        "ticked": list(session.ticked),
        "done": session.done,
    }
    return json.dumps({k: v for k, v in fields.items() if v}, separators=(",", ":"))


# ------------------------------------------------------------------ the shape --
@pytest.mark.parametrize(
    ("answers", "stored"),
    [
        ((SINGLE,), '"answers":{"now":"no"}'),
        ((SINGLE, CHECKLIST), '"answers":{"now":"no","flags":["calf","dizzy"]}'),
        ((SINGLE, EMPTY_CHECKLIST), '"answers":{"now":"no","flags":[]}'),
        ((SINGLE, PARTIAL), '"answers":{"now":"no","flags":{"partial":["chest_pain"]}}'),
        ((Answer(q="flags", v=(), partial=True),), '"answers":{"flags":{"partial":[]}}'),
        ((Answer(q="now", v="no", partial=True),), '"answers":{"now":{"partial":"no"}}'),
    ],
    ids=["single", "checklist", "empty-checklist", "partial", "partial-nothing-ticked", "odd"],
)
def test_answers_are_stored_as_one_object_in_answer_order(
    answers: tuple[Answer, ...], stored: str
) -> None:
    session = _session(*answers, rev=len(answers), done=True)
    text = session.dump()

    head = f'"format":{FORMAT},"kb":"engine.1","rev":{len(answers)}'
    assert text == f'{{{head},{stored},"done":true}}'
    assert Session.load(text) == session
    assert Session.load(text).answers == answers


def test_no_answers_are_left_out() -> None:
    session = _session(ticked=("calf",))

    assert session.dump() == f'{{"format":{FORMAT},"kb":"engine.1","ticked":["calf"]}}'
    assert Session.load(session.dump()) == session
    assert Session.load(f'{{"format":{FORMAT},"kb":"engine.1","answers":{{}}}}') == _session()


def test_a_full_dump_round_trips_too() -> None:
    session = _session(SINGLE, PARTIAL)

    assert Session.model_validate_json(session.model_dump_json()) == session
    assert Session.model_validate(json.loads(session.dump())) == session
    assert Session.model_validate(session.model_dump(mode="json")) == session


def test_the_python_side_is_unchanged() -> None:
    session = _session(SINGLE, PARTIAL)

    assert session.answers == (SINGLE, PARTIAL)
    assert session.model_dump()["answers"] == (
        {"q": "now", "v": "no", "partial": False},
        {"q": "flags", "v": ("chest_pain",), "partial": True},
    )
    assert Session.model_validate(session.model_dump()) == session


def test_a_finished_real_walk_saves_ten_bytes_an_answer_and_fits_half_a_kilobyte() -> None:
    """`{"q":"id","v":value},` became `"id":value,`: ten bytes less for every answer."""
    session, _ = walk(KB, {}).steps[-1]
    assert len(session.answers) >= 6  # issue 13: the four safety screens, then tailoring
    assert not any(a.partial for a in session.answers)

    tailor = len(f',"tailor":{session.tailor}') if session.tailor is not None else 0
    assert len(session.dump()) - tailor == len(_as_format_1(session)) - 10 * len(session.answers)
    assert len(session.dump()) < 512


# ------------------------------------------------------------- strictness --
def test_a_question_answered_twice_is_rejected() -> None:
    with pytest.raises(ValidationError, match="question now is answered twice"):
        _session(SINGLE, Answer(q="now", v="yes"))


def test_a_format_1_session_answering_a_question_twice_is_rejected() -> None:
    text = '{"format":1,"kb":"engine.1","answers":[{"q":"now","v":"no"},{"q":"now","v":"yes"}]}'

    with pytest.raises(ValidationError, match="question now is answered twice"):
        Session.load(text)


@pytest.mark.parametrize(
    ("stored", "match"),
    [
        ('"answers":[{"q":"now","v":"no"}]', "answers are stored as an object"),
        ('"answers":{"flags":{"partial":[],"at":1}}', 'must be a value or {"partial": value}'),
        ('"answers":{"flags":{}}', 'must be a value or {"partial": value}'),
        ('"answers":{"flags":{"partial":{"partial":[]}}}', "valid array"),
        ('"answers":{"flags":[1]}', "valid string"),
        ('"answers":{"Not A Slug":"no"}', "pattern"),
    ],
    ids=["list", "wrapper-extra-key", "wrapper-empty", "wrapper-twice", "bad-item", "bad-id"],
)
def test_a_malformed_answers_object_is_rejected(stored: str, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Session.load(f'{{"format":{FORMAT},"kb":"engine.1",{stored}}}')


@pytest.mark.parametrize("version", ["0", "-1", "true", '"1"', "1.0", str(FORMAT + 1)])
def test_only_a_known_integer_format_is_migrated(version: str) -> None:
    """Format 0 or less, or 1 spelled another way, must not run the 1 -> 2 step and load."""
    text = f'{{"format":{version},"kb":"engine.1","answers":[{{"q":"now","v":"no"}}]}}'

    with pytest.raises(ValidationError, match="format"):
        Session.load(text)


# ------------------------------------------------------------- format 1 --
FORMAT_1 = (
    '{"format":1,"kb":"engine.1","rev":7,"answers":[{"q":"now","v":"yes"},'
    '{"q":"flags","v":["calf"]},{"q":"pain","v":"unknown"},{"q":"duration","v":"long"},'
    '{"q":"stretch","v":"unknown"},{"q":"remote","v":"no"}],"done":true}'
)
"""A finished session exactly as the previous release (format 1) stored it."""
FORMAT_1_CUT_SHORT = (
    '{"format":1,"kb":"engine.1","rev":2,"answers":[{"q":"now","v":"no"},'
    '{"q":"flags","v":["chest_pain"],"partial":true}],"done":true}'
)


def test_a_format_1_session_loads_as_the_same_session_in_format_3(kb: KnowledgeBase) -> None:
    expected = walk(kb, {"now": "yes", "calf": "yes", "duration": "long", "remote": "no"})

    loaded = Session.load(FORMAT_1)

    assert loaded == expected.steps[-1][0]
    assert loaded.format == FORMAT
    assert loaded.dump() == (
        '{"format":3,"kb":"engine.1","rev":7,"answers":{"now":"yes","flags":["calf"],'
        '"pain":"unknown","duration":"long","stretch":"unknown","remote":"no"},"done":true}'
    )


def test_a_format_1_session_cut_short_keeps_its_partial_answer(kb: KnowledgeBase) -> None:
    expected = walk(kb, {"now": "no", "chest_pain": "yes"}).steps[-1][0]

    loaded = Session.load(FORMAT_1_CUT_SHORT)

    assert loaded == expected
    assert loaded.answers[-1] == PARTIAL
    assert loaded.findings(kb) == expected.findings(kb)
    assert '"flags":{"partial":["chest_pain"]}' in loaded.dump()


def test_a_format_1_session_without_answers_or_with_ticks_loads() -> None:
    assert Session.load('{"format":1,"kb":"engine.1"}') == _session()
    ticked = '{"format":1,"kb":"engine.1","rev":3,"answers":[{"q":"now","v":"no"}],"ticked":["a"]}'
    assert Session.load(ticked) == _session(SINGLE, rev=3, ticked=("a",))


# ---------------------------------------------- properties over knowledge/ --
def _assert_round_trips(session: Session) -> None:
    text = session.dump()
    assert Session.load(text) == session
    assert Session.load(text).dump() == text
    if session.tailor is None:  # format 1 had no tailoring
        assert Session.load(_as_format_1(session)) == session


@SETTINGS
@given(fact_sets(KB))
def test_every_session_of_a_case_walk_round_trips(facts: dict[str, str]) -> None:
    for session, _ in walk(KB, facts).steps:
        _assert_round_trips(session)


ACTIONS = st.lists(
    st.tuples(st.sampled_from(["answer", "toggle", "done", "back"]), st.integers(0, 12)),
    max_size=60,
)


@SETTINGS
@given(st.sampled_from([q.id for q in KB.questions]), st.booleans(), ACTIONS)
def test_every_session_of_a_random_walk_with_back_round_trips(
    first: str, skip: bool, actions: list[tuple[str, int]]
) -> None:
    """Random presses (Back too), from the start or from a later question (`start_at`)."""
    session, _ = start_at(KB, first) if skip else start(KB)
    _assert_round_trips(session)
    for action, index in actions:
        try:
            if action == "answer":
                session, _ = answer(KB, session, index)
            elif action == "toggle":
                session, _ = toggle(KB, session, index)
            elif action == "done":
                session, _ = done(KB, session)
            else:
                session, _ = back(KB, session)
        except EngineError:
            continue
        _assert_round_trips(session)


def test_a_format_2_session_loads_as_format_3_without_tailoring() -> None:
    stored = '{"format":2,"kb":"engine.1","rev":1,"answers":{"now":"no"}}'

    loaded = Session.load(stored)

    assert loaded.format == FORMAT == 3
    assert loaded.tailor is None
    assert loaded.dump() == stored.replace('"format":2', '"format":3')


def test_a_tailoring_session_keeps_where_tailoring_began() -> None:
    stored = '{"format":3,"kb":"engine.1","rev":5,"answers":{"now":"no"},"tailor":1}'

    assert Session.load(stored).tailor == 1
    assert Session.load(stored).dump() == stored
