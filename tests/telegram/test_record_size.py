"""The stored conversation record: small (issue 6: at most 1 KB) and always self-describing."""

from __future__ import annotations

import json

from bot.engine.machine import Ask, answer, done, start
from bot.engine.models import ChecklistQuestion, KnowledgeBase
from bot.telegram.record import FORMAT, Conversation


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
