"""The benchmark's fake Bot API counts an update done once all its calls came (bench/fake_api.py).

CrampCheck answers a press and sends its screen as two calls in flight at once, which a server
may take in either order: the press is done when both came, and neither order is a wrong call.
A second answer, a missing one or a screen for a chat that is not waiting still is.
"""

from __future__ import annotations

from typing import Any

from fake_api import Run

EXPECTED = {
    "text": ["sendMessage", "sendMessage"],
    "press": ["answerCallbackQuery", "editMessageText"],
}
CHAT = 7_000_000_000
SCREEN = {"inline_keyboard": [[{"text": "Yes", "callback_data": "q:1:a0"}]]}


def started(script: list[str]) -> Run:
    run = Run({"users": [script], "chat_base": CHAT, "expected": EXPECTED}, first_update_id=1)
    run.start()
    return run


def show_first_screen(run: Run) -> int:
    """Answer the /start as the bot does; return the screen's message id."""
    run.screen_call("sendMessage", {"chat_id": CHAT, "text": "Welcome"})
    shown: dict[str, Any] = run.screen_call(
        "sendMessage", {"chat_id": CHAT, "text": "Right now?", "reply_markup": SCREEN}
    )
    return int(shown["message_id"])


def press_id(run: Run) -> str:
    return str(run.pending[-1]["callback_query"]["id"])


async def test_a_press_is_done_when_its_answer_and_its_screen_both_came_in_either_order() -> None:
    for answer_first in (True, False):
        run = started(["/start", "q:1:a0"])
        screen = show_first_screen(run)
        query = press_id(run)
        edit = {"chat_id": CHAT, "message_id": screen, "text": "Next", "reply_markup": SCREEN}
        if answer_first:
            run.answer_call({"callback_query_id": query})
            assert not run.done.is_set()  # the answer alone does not finish a press
            run.screen_call("editMessageText", edit)
        else:
            run.screen_call("editMessageText", edit)
            assert not run.done.is_set()  # nor the screen alone
            run.answer_call({"callback_query_id": query})

        assert run.done.is_set()
        assert run.completed == 2
        result = run.result()
        assert result["wrong_calls"] == {}
        assert result["violations"] == {}


async def test_a_second_answer_and_a_press_never_answered_are_still_wrong() -> None:
    run = started(["/start", "q:1:a0", "q:2:a0"])
    screen = show_first_screen(run)
    query = press_id(run)
    run.answer_call({"callback_query_id": query})
    edit = {"chat_id": CHAT, "message_id": screen, "text": "Next", "reply_markup": SCREEN}
    run.screen_call("editMessageText", edit)
    run.answer_call({"callback_query_id": query})  # twice
    run.screen_call("editMessageText", edit)  # the last press: its answer never comes

    result = run.result()
    assert result["violations"] == {"answer after the update was done": 1}
    assert result["wrong_calls"] == {
        "press: answerCallbackQuery+editMessageText+answerCallbackQuery": 1,
        "press: editMessageText": 1,
    }
    assert not run.done.is_set()  # the run waits for the missing answer
