"""The stored conversation record: small (issue 6: at most 1 KB), always self-describing, and
parsed once per text."""

from __future__ import annotations

import json

import pytest

from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.questionnaire.machine import Ask, answer, done, start
from bot.telegram.state import conversation as record_module
from bot.telegram.state.conversation import FORMAT, Conversation


def finished(kb: KnowledgeBase, pick_last: bool) -> Conversation:
    session, step = start(kb)
    while isinstance(step, Ask):
        if isinstance(step.question, ChecklistQuestion):
            session, step = done(kb, session)
        else:
            session, step = answer(kb, session, len(step.options) - 1 if pick_last else 1)
    updates = tuple(range(912_345_600, 912_345_608))
    return Conversation(session=session, message_id=2_147_483_000, language="nb", updates=updates)


def test_a_finished_questionnaire_record_stays_under_one_kilobyte(kb: KnowledgeBase) -> None:
    for pick_last in (True, False):
        record = finished(kb, pick_last).dump()
        assert len(record.encode()) <= 1024, len(record)


def test_the_record_always_names_its_format_and_round_trips(kb: KnowledgeBase) -> None:
    conversation = finished(kb, pick_last=True)
    text = conversation.dump()
    assert json.loads(text)["format"] == FORMAT
    assert Conversation.load(text) == conversation
    bare = Conversation(session=conversation.session)
    assert json.loads(bare.dump())["format"] == FORMAT
    assert Conversation.load(bare.dump()) == bare


def test_a_record_is_parsed_once_and_a_written_one_not_at_all(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses: list[str] = []
    parse = Conversation.model_validate_json

    def counted(text: str | bytes | bytearray) -> Conversation:
        parses.append(str(text))
        return parse(text)

    monkeypatch.setattr(Conversation, "model_validate_json", counted)
    written = finished(kb, pick_last=True)
    text = written.dump()

    assert Conversation.load(text) is written  # the processor reads back what was written
    other = text.replace('"language":"nb"', '"language":"de"')
    first = Conversation.load(other)
    assert Conversation.load(other) is first
    assert first.language == "de"
    assert parses == [other]


def test_the_table_of_known_records_keeps_the_latest_only(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(record_module, "KNOWN_RECORDS", 2)
    base = finished(kb, pick_last=False)
    texts = [base.model_copy(update={"message_id": n}).dump() for n in range(5)]

    assert len(record_module._KNOWN) <= 2
    assert [Conversation.load(text).message_id for text in texts] == list(range(5))
