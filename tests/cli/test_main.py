"""The `crampcheck` command line: exit codes, output formats, the terminal chat."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.chat import run_chat
from bot.cli.main import main
from bot.engine import Level, load_knowledge_base
from tests.cli.scripted import ScriptedUser
from tests.shared import REPO

KNOWLEDGE = REPO / "knowledge"


def test_kb_lint_exits_zero_on_the_real_knowledge_base(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "lint", str(KNOWLEDGE), "--strict"]) == 0
    assert "0 error(s), 0 warning(s)" in capsys.readouterr().err


def test_kb_lint_exits_one_and_names_file_line_and_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE, broken)
    rules = broken / "rules.yaml"
    rules.write_text(rules.read_text().replace("finding: chest_pain,", "finding: chest_pian,"))
    assert main(["kb", "lint", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "rules.yaml:" in out
    assert "KB201 unknown finding 'chest_pian' (did you mean 'chest_pain'?)" in out


def test_kb_lint_and_the_startup_load_measure_the_trip_card(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The card's length is checked on its wording (bot/render/card.py), above the engine: the
    command and the load every `crampcheck` command runs both bring that check in."""
    too_long = REPO / "tests" / "kb" / "invalid" / "KB212_trip_card_over_one_message"

    assert main(["kb", "lint", str(too_long)]) == 1
    assert "KB212" in capsys.readouterr().out
    assert main(["--kb", str(too_long), "card"]) == 1
    assert "KB212" in capsys.readouterr().err


@pytest.mark.parametrize("is_file", [False, True])
def test_kb_lint_of_a_directory_that_is_not_there_says_so_in_one_line_and_exits_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], is_file: bool
) -> None:
    directory = tmp_path / "knowledge"
    if is_file:
        directory.write_text("not a knowledge base\n")
    assert main(["kb", "lint", str(directory)]) == 2
    captured = capsys.readouterr()
    problem = "is not a directory" if is_file else "does not exist"
    assert captured.err == f"crampcheck kb lint: {directory} {problem}\n"
    assert captured.out == ""


def test_kb_graph_prints_mermaid_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "graph"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart TD")
    assert "emergency_signs" in mermaid
    assert '["First, a safety check. Tick anything th…<br/>' in mermaid
    assert "  about_you --> interim" in mermaid
    assert '  interim -- "Tailor my advice" --> activity' in mermaid
    assert main(["kb", "graph", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph questionnaire {")
    assert 'label="About you: tick anything that applies.\\n(about_you)"' in dot
    assert 'interim -> activity [label="Tailor"];' in dot


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not valid JSON"),
        ('{"id": "x", "facts": {"chest_pian": "yes"}}', "unknown finding code 'chest_pian'"),
        ('{"id": "x", "facts": {"chest_pain": "maybe"}}', "has no value 'maybe'"),
        ('[{"facts": {}}]', "needs an 'id' and a 'facts' object"),
    ],
)
def test_assess_rejects_bad_input_with_exit_two(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    case = tmp_path / "case.json"
    case.write_text(content)
    assert main(["assess", str(case)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_assess_missing_file_exits_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["assess", "/nonexistent/case.json"]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_assess_accepts_one_object_and_treats_missing_findings_as_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = tmp_path / "case.json"
    case.write_text(json.dumps({"id": "c1", "facts": {"fainted": "yes"}, "note": "ignored"}))
    assert main(["assess", str(case)]) == 0
    (result,) = json.loads(capsys.readouterr().out)
    assert result["id"] == "c1"
    assert result["triage"] == "emergency"
    assert result["asked"][0] == "cramp_now"
    assert set(result) == {"id", "triage", "causes", "advice_codes", "asked", "questions", "taps",
                           "screens_to_level", "taps_to_level", "interim"}  # fmt: skip


def test_console_script_is_installed_and_runs_assess(tmp_path: Path) -> None:
    """The packaged `crampcheck` entry point works, not just the function."""
    case = tmp_path / "case.json"
    case.write_text(json.dumps([{"id": "c", "facts": {"cold_pale_limb": "yes"}}]))
    done = subprocess.run(  # noqa: S603 - our own entry point with a temp file
        [sys.executable, "-m", "bot", "assess", str(case)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["triage"] == "emergency"


def test_chat_gives_first_aid_then_ends_at_once_on_an_emergency() -> None:
    kb = load_knowledge_base(KNOWLEDGE)
    user = ScriptedUser(["1", "2"])  # tick "cramp right now", then "chest pain"
    result = run_chat(kb, read=user.read, write=user.write)
    assert result is not None
    assert result.level is Level.EMERGENCY
    assert "First aid now" in user.screen
    assert user.screen.index("First aid now") < user.screen.index("🚨")
    assert "🚨" in user.screen


def test_chat_back_restart_why_and_bad_input_are_handled() -> None:
    kb = load_knowledge_base(KNOWLEDGE)
    user = ScriptedUser(["d", "b", "d", "x", "99", "r", "y", "2", "w"])
    result = run_chat(kb, read=user.read, write=user.write)
    assert result is not None
    assert result.level is Level.EMERGENCY
    assert user.screen.count("Please type one of the numbers shown") == 2
    assert "Why this level" in user.screen
    assert user.screen.count("First, a safety check") >= 3


def test_chat_speaks_norwegian_throughout() -> None:
    kb = load_knowledge_base(KNOWLEDGE)
    user = ScriptedUser(["d", "x", "d", "d", "d", "t", "1", "d", "1"])
    run_chat(kb, read=user.read, write=user.write, language="nb")
    assert "Skriv ett av tallene som vises" in user.screen
    assert "Tilpass rådene" in user.screen
    for english in ("Not sure", "Please type", "back, r = restart", "safety check", "Tailor"):
        assert english not in user.screen


def test_chat_rejects_a_language_the_knowledge_base_lacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["chat", "--lang", "de"]) == 2
    assert "no language 'de'" in capsys.readouterr().err


# --------------------------------------------------------------- trip card --
def test_card_prints_the_english_trip_card_with_every_red_flag(
    capsys: pytest.CaptureFixture[str],
) -> None:
    kb = load_knowledge_base(KNOWLEDGE)
    assert main(["card", "--country", "CH"]) == 0
    out = capsys.readouterr().out

    assert out.startswith("🧭 TRIP CARD · Switzerland\n\n🩹 CRAMP NOW\n1. ")
    assert "🚨 CALL 144 OR PRESS SOS NOW IF" in out
    assert "Rega 1414" in out
    for rule in kb.rules:
        if rule.level in ("emergency", "urgent"):
            assert rule.trip_card is not None
            assert f"• {rule.trip_card['en']}\n" in out, rule.id
    assert out.endswith(kb.text("trip_card_drink", "en") + "\n")


def test_card_prints_the_norwegian_trip_card_and_takes_a_country_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["card", "--lang", "nb", "--country", "Norge"]) == 0
    out = capsys.readouterr().out

    assert out.startswith("🧭 TURKORT · Norge\n\n🩹 KRAMPE NÅ\n")
    assert "🚨 RING 113 ELLER TRYKK SOS NÅ VED\n• brystsmerter eller tung pust\n" in out
    assert "Norge: medisinsk nødnummer 113 (112 virker også fra mobil)" in out
    assert "sjekket 2026-11-25" in out
    assert "Drikk etter tørst" in out


def test_card_without_a_country_gives_the_general_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["card"]) == 0
    out = capsys.readouterr().out

    assert out.startswith("🧭 TRIP CARD\n\n")
    assert "🚨 CALL THE EMERGENCY NUMBER OR PRESS SOS NOW IF" in out
    assert "112 works from mobiles" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["card", "--country", "Atlantis"], "no country 'Atlantis'"),
        (["card", "--lang", "de"], "no language 'de'"),
    ],
)
def test_card_refuses_an_unknown_country_or_language_with_exit_two(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_help_lists_the_card_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "card" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["card", "--help"])
    help_text = capsys.readouterr().out
    assert "--lang" in help_text
    assert "--country" in help_text
