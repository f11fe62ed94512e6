"""The terminal chat's keys as people really type them (issue 13)."""

from __future__ import annotations

import pytest

from bot.cli.chat import run_chat
from bot.engine import load_knowledge_base
from bot.engine.primitives import Level
from tests.cli.scripted import ScriptedUser

KB = load_knowledge_base()


class Interrupted(ScriptedUser):
    """Presses Ctrl-C when the replies run out."""

    def read(self, prompt: str) -> str:
        if not self.replies:
            raise KeyboardInterrupt
        return super().read(prompt)


@pytest.mark.parametrize("ticks", ["1 3", "1,3", "1, 3", "3;1"])
def test_several_ticks_in_one_line_tick_each(ticks: str) -> None:
    user = ScriptedUser(["d", ticks])  # no emergency sign; two signs about the muscle
    run_chat(KB, read=user.read, write=user.write)

    last_list = user.screen.rsplit("1. ", 1)[1]
    assert last_list.startswith("☑")
    assert "3. ☑" in last_list
    assert "2. ☐" in last_list


def test_an_emergency_tick_in_a_line_ends_at_once() -> None:
    user = ScriptedUser(["2 3"])  # chest pain ends it; the 3 is not applied after
    result = run_chat(KB, read=user.read, write=user.write)

    assert result is not None
    assert result.level is Level.EMERGENCY


def test_a_checklist_says_type_d_and_is_listed_once() -> None:
    user = ScriptedUser([])
    run_chat(KB, read=user.read, write=user.write)

    assert "then d" in user.screen
    assert "Press Done" not in user.screen
    assert user.screen.count("Chest pain") == 1


def test_b_on_the_first_question_says_you_are_at_the_start() -> None:
    user = ScriptedUser(["b"])
    run_chat(KB, read=user.read, write=user.write)

    assert "You are at the first question" in user.screen
    assert "Please type" not in user.screen


@pytest.mark.parametrize(("confirm", "restarted"), [("n", False), ("y", True)])
def test_r_asks_before_throwing_answers_away(confirm: str, restarted: bool) -> None:
    user = ScriptedUser(["d", "r", confirm])
    run_chat(KB, read=user.read, write=user.write)

    assert "throw away your answers?" in user.screen
    assert ("Your answers are kept." in user.screen) is not restarted
    assert user.screen.count("First, a safety check") == (2 if restarted else 1)


@pytest.mark.parametrize("user_type", [ScriptedUser, Interrupted])
def test_ctrl_c_and_ctrl_d_leave_cleanly_with_a_newline(user_type: type[ScriptedUser]) -> None:
    user = user_type(["d"])
    assert run_chat(KB, read=user.read, write=user.write) is None

    assert user.output[-1] == "\n"


@pytest.mark.parametrize(
    ("key", "heading"), [("w", "Why this level"), ("s", "summary for a doctor")]
)
def test_w_and_s_print_only_what_was_asked(key: str, heading: str) -> None:
    user = ScriptedUser(["2", key])  # an emergency result, then w or s
    run_chat(KB, read=user.read, write=user.write)

    assert heading in user.screen
    assert user.screen.count("Call the emergency number now") == 1
