"""Terminal equivalents of the issue-5 features: `chat --country`, `s` for the summary, `sweat`."""

from __future__ import annotations

import builtins
from datetime import UTC, datetime

import pytest

from bot.cli.chat import run_chat
from bot.cli.main import main
from bot.cli.sweat import run_sweat
from bot.engine import Level, load_knowledge_base
from bot.engine.kb.loader import load_tables
from bot.engine.numbers.table import lookup
from tests.cli.scripted import ScriptedUser

WHEN = datetime(2026, 11, 25, 14, 3, tzinfo=UTC)


def test_chat_with_a_country_names_its_number_on_an_emergency_result() -> None:
    kb = load_knowledge_base()
    norway = lookup(load_tables().numbers, "NO")
    user = ScriptedUser(["1", "2"])  # tick "cramp right now", then "chest pain"
    result = run_chat(kb, read=user.read, write=user.write, local=norway)
    assert result is not None
    assert result.level is Level.EMERGENCY
    assert "🚨 EMERGENCY: call for help now\n📞 Norway: medical emergency 113" in user.screen


def test_chat_without_a_country_keeps_the_generic_numbers() -> None:
    user = ScriptedUser(["1", "2"])
    run_chat(load_knowledge_base(), read=user.read, write=user.write)
    assert "📞" not in user.screen


@pytest.mark.parametrize(
    ("language", "title", "answer"),
    [
        ("en", "📋 CrampCheck summary for a doctor", "• Chest pain or tightness: yes"),
        (
            "nb",
            "📋 Sammendrag fra CrampCheck til lege",
            "• Brystsmerter eller trykk i brystet: ja",
        ),
    ],
)
def test_s_on_a_result_prints_the_summary(language: str, title: str, answer: str) -> None:
    user = ScriptedUser(["1", "2", "s"])
    run_chat(
        load_knowledge_base(),
        read=user.read,
        write=user.write,
        language=language,
        clock=lambda: WHEN,
    )
    assert title in user.screen
    assert "2026-11-25 14:03 UTC" in user.screen
    assert answer in user.screen


def test_s_before_a_result_is_not_a_key() -> None:
    user = ScriptedUser(["s"])
    run_chat(load_knowledge_base(), read=user.read, write=user.write, clock=lambda: WHEN)
    assert "summary for a doctor" not in user.screen
    assert "Please type one of the numbers shown" in user.screen


def test_chat_refuses_an_unknown_country(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--country", "XX"]) == 2
    assert "no country 'XX'" in capsys.readouterr().err


def test_chat_command_accepts_a_country(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    replies = iter(["1", "2"])

    def scripted(prompt: str = "") -> str:
        try:
            return next(replies)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr(builtins, "input", scripted)
    assert main(["chat", "--country", "se"]) == 0
    assert "📞 Sweden: medical emergency 112" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("language", "replies", "figures"),
    [
        ("en", ["no", "70", "68.6", "1.0", "2", "skip", "no"], ["1.2 L per hour", "200 mL"]),
        ("nb", ["nei", "70", "68,6", "1,0", "2", "hopp over", "nei"], ["1,2 liter i timen"]),
    ],
)
def test_sweat_in_the_terminal_gives_the_hand_checked_plan(
    language: str, replies: list[str], figures: list[str]
) -> None:
    config = load_tables().sweat
    user = ScriptedUser(replies)
    done = run_sweat(config, read=user.read, write=user.write, language=language)
    assert done is not None
    assert done.plan is not None
    assert done.plan.planned_l_per_h == pytest.approx(0.8)
    for figure in figures:
        assert figure in user.screen


def test_sweat_in_the_terminal_refuses_bad_numbers_and_stops_for_heart_or_kidney() -> None:
    config = load_tables().sweat
    user = ScriptedUser(["no", "heavy", "q"])
    assert run_sweat(config, read=user.read, write=user.write) is None
    assert config.text("error_not_a_number", "en") in user.screen
    assert user.screen.count("(2/7)") == 2

    user = ScriptedUser(["yes"])
    done = run_sweat(config, read=user.read, write=user.write)
    assert done is not None
    assert done.plan is None
    assert config.text("contraindication", "en") in user.screen


def test_sweat_command_rejects_a_language_the_sweat_lacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["sweat", "--lang", "de"]) == 2
    assert "no language 'de'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["chat", "sweat"])
def test_lang_help_names_every_language_there_is(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as finished:
        main([command, "--help"])
    assert finished.value.code == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "--lang LANG " in line]
    if command == "sweat":
        languages = load_tables().sweat.languages
    else:
        languages = load_knowledge_base().languages
    assert len(languages) >= 2
    assert set(languages) <= set(line.replace("(", " ").split())
