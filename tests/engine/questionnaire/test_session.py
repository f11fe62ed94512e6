"""The Session model: exact JSON round trip, a format that is always written, strict schema."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire.machine import start, toggle
from bot.engine.questionnaire.session import FORMAT, Session
from tests.engine.helpers import item, walk


def _sessions(kb: KnowledgeBase) -> list[Session]:
    """Sessions from every step of two walks, ticks in progress included."""
    steps = walk(kb, {"now": "yes", "calf": "yes", "duration": "long", "remote": "no"}).steps
    steps += walk(kb, {"dizzy": "yes", "chest_pain": "yes"}).steps
    return [session for session, _ in steps]


def test_dump_and_load_round_trip_exactly(kb: KnowledgeBase) -> None:
    for session in _sessions(kb):
        text = session.dump()

        assert Session.load(text) == session
        assert Session.load(text).dump() == text


def test_model_dump_json_round_trips_through_model_validate_json(kb: KnowledgeBase) -> None:
    for session in _sessions(kb):
        assert Session.model_validate_json(session.model_dump_json()) == session


def test_a_session_with_ticks_in_progress_round_trips(kb: KnowledgeBase) -> None:
    session, step = walk(kb, {"now": "no"}).steps[1]
    session, step = toggle(kb, session, item(step, "dizzy"))

    assert Session.load(session.dump()).ticked == ("dizzy",)


def test_format_is_always_written(kb: KnowledgeBase) -> None:
    for session in _sessions(kb):
        assert json.loads(session.dump())["format"] == FORMAT


def test_kb_version_is_always_written(kb: KnowledgeBase) -> None:
    session, _ = start(kb)

    assert json.loads(session.dump())["kb"] == kb.version


def test_a_future_format_is_rejected() -> None:
    text = json.dumps({"format": FORMAT + 1, "kb": "engine.1"})

    with pytest.raises(ValidationError, match="format"):
        Session.load(text)


@pytest.mark.parametrize("payload", [{"kb": "engine.1"}, {"format": 0, "kb": "engine.1"}])
def test_a_missing_or_impossible_format_is_rejected(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Session.load(json.dumps(payload))


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"format": FORMAT, "kb": "engine.1", "node_id": "now"}, "extra"),
        ({"format": FORMAT, "kb": "engine.1", "answers": {}, "skipped": ["now"]}, "extra"),
        (
            {"format": 1, "kb": "engine.1", "answers": [{"q": "now", "v": "no", "at": 1}]},
            "not an object of q, v and partial",
        ),
    ],
    ids=["session", "session-beside-answers", "format-1-answer"],
)
def test_unknown_fields_are_rejected(payload: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        Session.load(json.dumps(payload))


@pytest.mark.parametrize(
    "payload",
    [
        {"format": FORMAT, "kb": ""},
        {"format": FORMAT, "kb": "engine.1", "rev": -1},
        {"format": FORMAT, "kb": "engine.1", "answers": {"Not A Slug": "no"}},
        {"format": FORMAT, "kb": "engine.1", "answers": {"now": {}}},
        {"format": 1, "kb": "engine.1", "answers": [{"q": "Not A Slug", "v": {}}]},
    ],
    ids=["empty-kb", "negative-rev", "bad-question-id", "bad-value", "format-1-bad-answer"],
)
def test_invalid_values_are_rejected(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Session.load(json.dumps(payload))


def test_a_session_is_frozen(kb: KnowledgeBase) -> None:
    session, _ = start(kb)

    with pytest.raises(ValidationError):
        session.rev = 5  # type: ignore[misc]


def test_findings_merge_answers_in_the_order_answered(kb: KnowledgeBase) -> None:
    session = walk(kb, {"now": "yes", "dizzy": "yes"}).steps[-1][0]

    assert list(session.findings(kb))[:5] == ["now", "chest_pain", "calf", "dizzy", "pain"]
