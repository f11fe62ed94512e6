"""Callback data: canonical encoding, the 64-byte limit, and forged data that never crashes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.engine.errors import InvalidAnswer
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Result
from bot.telegram.ui.callbacks import (
    MAX_BYTES,
    MAX_NUMBER,
    Action,
    Callback,
    CardAction,
    apply_callback,
    decode_callback,
    decode_card,
    encode_callback,
    encode_card,
)

CALLBACKS = [
    Callback("answer", 0, 0),
    Callback("answer", 17, 3),
    Callback("toggle", 4, 6),
    Callback("done", 9),
    Callback("back", 12),
    Callback("restart", 0),
    Callback("why", 21),
    Callback("forget_yes"),
    Callback("forget_no"),
]


@pytest.mark.parametrize("callback", CALLBACKS)
def test_encoded_callback_decodes_to_itself(callback: Callback) -> None:
    assert decode_callback(encode_callback(callback)) == callback


@pytest.mark.parametrize(
    ("callback", "data"),
    [
        (Callback("answer", 3, 1), "q:3:a1"),
        (Callback("toggle", 0, 12), "q:0:t12"),
        (Callback("done", 5), "q:5:d"),
        (Callback("back", 5), "q:5:b"),
        (Callback("restart", 5), "q:5:r"),
        (Callback("why", 5), "q:5:w"),
        (Callback("forget_yes"), "f:y"),
        (Callback("forget_no"), "f:n"),
    ],
)
def test_callback_data_has_the_documented_shape(callback: Callback, data: str) -> None:
    assert encode_callback(callback) == data


@given(
    action=st.sampled_from(["answer", "toggle"]),
    revision=st.integers(0, MAX_NUMBER - 1),
    index=st.integers(0, MAX_NUMBER - 1),
)
def test_every_encodable_callback_fits_in_64_bytes_and_round_trips(
    action: str, revision: int, index: int
) -> None:
    callback = Callback(action, revision, index)  # type: ignore[arg-type]
    data = encode_callback(callback)
    assert len(data.encode()) <= MAX_BYTES
    assert decode_callback(data) == callback


@pytest.mark.parametrize(
    "callback",
    [
        Callback("answer", -1, 0),
        Callback("answer", 0, -1),
        Callback("answer", MAX_NUMBER, 0),
        Callback("toggle", 0, MAX_NUMBER),
        Callback("answer", 0),
        Callback("done", 0, 1),
    ],
)
def test_encoding_an_invalid_callback_raises_value_error(callback: Callback) -> None:
    with pytest.raises(ValueError, match=r"."):
        encode_callback(callback)


def test_encoding_over_64_bytes_raises_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the number bound lifted, a revision long enough to pass 64 bytes is still refused."""
    monkeypatch.setattr("bot.telegram.ui.callbacks.MAX_NUMBER", 10**80)
    with pytest.raises(ValueError, match="64"):
        encode_callback(Callback("answer", 10**70, 0))


@pytest.mark.parametrize(
    "data",
    [
        None,
        42,
        b"q:1:a0",
        "",
        "q",
        "q:",
        "q:1",
        "q:1:",
        "q:1:a",
        "q:1:x",
        "q:1:a-1",
        "q:-1:a0",
        "q:01:a0",
        "q:1:a01",
        "q:1:d0",
        "q:1:a0:extra",
        "q:1:a0\n",
        " q:1:a0",
        "Q:1:A0",
        "q:\u0661:a0",  # Arabic-Indic digit one
        "q:1:a\u0663",
        "q:1e3:a0",
        "q:" + "9" * 13 + ":a0",
        "q:1:a" + "9" * 40,
        "q:1:a0" + "é" * 40,
        "f:",
        "f:yes",
        "f:y ",
        "x" * 65,
        "\x00",
    ],
)
def test_forged_callback_data_raises_value_error(data: object) -> None:
    with pytest.raises(ValueError, match=r"."):
        decode_callback(data)


@given(st.one_of(st.text(), st.text(alphabet="qf:0123456789atdbrwyn-", max_size=30)))
def test_any_text_either_decodes_canonically_or_raises_value_error(data: str) -> None:
    try:
        callback = decode_callback(data)
    except ValueError:
        return
    assert encode_callback(callback) == data


def test_done_finishes_the_checklist_and_toggle_ticks_an_item(kb: KnowledgeBase) -> None:
    session, _ = machine.start(kb)
    ticked, _ = apply_callback(kb, session, Callback("toggle", session.rev, 0))
    assert ticked.ticked == ("cramp_now",)
    moved, step = apply_callback(kb, session, Callback("done", session.rev))
    assert moved.rev == session.rev + 1
    assert moved.findings(kb)["cramp_now"] == "no"
    assert not isinstance(step, Result)


def test_unsure_leaves_the_unticked_findings_unknown(kb: KnowledgeBase) -> None:
    session, _ = machine.start(kb)
    moved, _ = apply_callback(kb, session, Callback("unsure", session.rev))
    assert moved.findings(kb)["chest_pain"] == "unknown"


def test_tailor_goes_on_from_the_interim_answer(kb: KnowledgeBase) -> None:
    session, step = machine.start(kb)
    while not isinstance(step, Result):
        session, step = machine.done(kb, session)
    assert step.interim
    moved, after = apply_callback(kb, session, Callback("tailor", session.rev))
    assert moved.tailor == len(session.answers)
    assert not isinstance(after, Result)


@pytest.mark.parametrize("action", ["unsure", "tailor", "more"])
def test_new_actions_round_trip_as_plain_codes(action: Action) -> None:
    codes = {"unsure": "u", "tailor": "c", "more": "m"}
    data = encode_callback(Callback(action, 7))
    assert data == "q:7:" + codes[action]
    assert decode_callback(data) == Callback(action, 7)


@pytest.mark.parametrize(
    "callback",
    [
        Callback("answer", 0, 0),
        Callback("toggle", 0, 99),
        Callback("tailor", 0),
        Callback("why", 0),
        Callback("more", 0),
    ],
)
def test_action_that_does_not_fit_the_step_raises_invalid_answer(
    kb: KnowledgeBase, callback: Callback
) -> None:
    session, _ = machine.start(kb)
    with pytest.raises(InvalidAnswer):
        apply_callback(kb, session, callback)


# --- trip-card buttons (t:) ----------------------------------------------------------------------
@given(st.integers(min_value=0, max_value=MAX_NUMBER - 1), st.sampled_from(["pin", "no"]))
def test_a_pin_button_round_trips_within_64_bytes(message_id: int, action: CardAction) -> None:
    data = encode_card(action, message_id)

    assert len(data.encode()) <= MAX_BYTES
    assert decode_card(data) == (action, message_id)


def test_the_open_button_takes_no_message_id_and_pin_needs_one() -> None:
    assert decode_card(encode_card("open")) == ("open", None)
    with pytest.raises(ValueError, match="message id"):
        encode_card("open", 5)
    with pytest.raises(ValueError, match="message id"):
        encode_card("pin")


@pytest.mark.parametrize(
    "data", ["t:o:1", "t:p", "t:p:", "t:p:01", "t:p:-3", "t:x:1", "t:p:1x", "t:p:" + "9" * 13, 7]
)
def test_forged_trip_card_data_is_refused(data: object) -> None:
    with pytest.raises(ValueError, match="trip-card"):
        decode_card(data)
