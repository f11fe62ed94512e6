"""`crampcheck kb diff OLD NEW`: what a knowledge-base change alters, and for which cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.cli.main import main
from tests.shared import REPO


@pytest.fixture
def versions(tmp_path: Path) -> tuple[Path, Path]:
    old, new = tmp_path / "old", tmp_path / "new"
    shutil.copytree(REPO / "knowledge", old)
    shutil.copytree(REPO / "knowledge", new)
    return old, new


def test_identical_knowledge_bases_have_no_changes(
    versions: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["kb", "diff", *map(str, versions)]) == 0
    out = capsys.readouterr().out
    assert "0 knowledge-base change(s)" in out
    assert "0 case difference(s)" in out


def test_a_lowered_rule_shows_as_a_changed_rule_and_a_changed_triage(
    versions: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = versions
    rules = new / "rules.yaml"
    text = rules.read_text()
    start = text.index("- id: trunk_cramp")
    rules.write_text(text[:start] + text[start:].replace("level: urgent", "level: doctor", 1))
    cases = tmp_path / "cases.json"
    cases.write_text(
        json.dumps(
            [
                {"id": "trunk", "facts": {"muscle_location": "trunk"}},
                {"id": "calf", "facts": {"muscle_location": "calf"}},
            ]
        )
    )
    assert main(["kb", "diff", str(old), str(new), "--cases", str(cases)]) == 0
    out = capsys.readouterr().out
    assert "changed  rules/trunk_cramp (level)" in out
    assert "trunk: triage urgent -> doctor" in out
    assert "calf:" not in out


def test_added_and_removed_advice_are_listed(
    versions: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = versions
    advice = new / "advice.yaml"
    advice.write_text(advice.read_text().replace("- id: pacing\n", "- id: pacing_tips\n"))
    assert main(["kb", "diff", str(old), str(new)]) == 0
    out = capsys.readouterr().out
    assert "added    advice/pacing_tips" in out
    assert "removed  advice/pacing" in out


def test_a_broken_new_version_exits_one_with_its_issues(
    versions: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = versions
    (new / "causes.yaml").write_text("- id: [unclosed\n")
    assert main(["kb", "diff", str(old), str(new)]) == 1
    assert "KB100" in capsys.readouterr().err
