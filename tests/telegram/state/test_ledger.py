"""The update ledger: which ids a record has applied, and how a delivery is judged against it."""

from __future__ import annotations

import json

from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.telegram.state import ledger
from bot.telegram.state.conversation import FORMAT, Conversation
from bot.telegram.state.ledger import WINDOW, Verdict, judge, remember


def test_remember_keeps_the_newest_ids_in_order_and_ignores_repeats() -> None:
    applied: tuple[int, ...] = ()
    for update_id in [5, 3, 9, 9, *range(10, 20)]:
        applied = remember(applied, update_id)

    assert applied == tuple(range(12, 20))
    assert len(applied) == WINDOW


def test_remember_without_an_update_changes_nothing() -> None:
    assert remember((1, 2), None) == (1, 2)


def test_a_recorded_id_is_a_duplicate_an_older_one_stale_a_newer_one_new() -> None:
    applied = (10, 12)

    assert judge(12, applied) is Verdict.DUPLICATE
    assert judge(10, applied) is Verdict.DUPLICATE
    assert judge(11, applied) is Verdict.STALE
    assert judge(13, applied) is Verdict.NEW
    assert judge(1, ()) is Verdict.NEW


def test_a_format_1_record_loads_with_no_update_ids_and_saves_as_the_current_format(
    kb: KnowledgeBase,
) -> None:
    session, _ = machine.start(kb)
    old = json.dumps({"format": 1, "session": json.loads(session.dump()), "message_id": 7})

    loaded = Conversation.load(old)

    assert loaded.updates == ()
    assert loaded.message_id == 7
    assert json.loads(loaded.dump())["format"] == FORMAT == 5


def test_a_format_2_record_loads_with_its_screen_shown(kb: KnowledgeBase) -> None:
    """Format 2 knew no owed screens: every screen of such a record had been shown."""
    session, _ = machine.start(kb)
    old = json.dumps({"format": 2, "session": json.loads(session.dump()), "updates": [5]})

    loaded = Conversation.load(old)

    assert not loaded.is_screen_pending
    assert loaded.updates == (5,)
    assert "is_screen_pending" not in loaded.dump()  # the default is left out of the record


def test_a_format_3_record_with_a_screen_owed_owes_it_in_a_new_message(kb: KnowledgeBase) -> None:
    """Format 3 marked an owed screen with a flag; format 4 owes the next view."""
    session, _ = machine.start(kb)
    base = {"format": 3, "session": json.loads(session.dump()), "message_id": 7}
    owed = Conversation.load(json.dumps({**base, "is_screen_pending": True, "floor_id": 7}))
    shown = Conversation.load(json.dumps(base))

    assert owed.is_screen_pending
    assert owed.needs_new_message
    assert not shown.is_screen_pending
    assert "floor_id" not in owed.dump()


def test_a_record_of_format_0_or_a_future_format_does_not_load(kb: KnowledgeBase) -> None:
    session, _ = machine.start(kb)
    for version in (0, -1, FORMAT + 1):
        text = json.dumps({"format": version, "session": json.loads(session.dump())})
        try:
            Conversation.load(text)
        except ValueError:
            continue
        raise AssertionError(f"format {version} loaded")


def test_stamped_adds_the_update_being_processed_and_nothing_outside_one(
    kb: KnowledgeBase,
) -> None:
    session, _ = machine.start(kb)
    record = Conversation(session=session, updates=(4,))

    assert record.stamped().updates == (4,)
    token = ledger.current_update.set(9)
    try:
        assert record.stamped().updates == (4, 9)
    finally:
        ledger.current_update.reset(token)
