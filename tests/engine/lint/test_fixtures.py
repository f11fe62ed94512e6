"""Each tests/kb/invalid/<CODE>_<what>/ fixture yields exactly its code; valid/ yields none.

Linted as `crampcheck kb lint` and the bot's startup lint, with the checks above the engine
(`KB_CHECKS`: the trip card's length, KB212 and KB505, measured on its wording)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.main import KB_CHECKS
from bot.engine.issues import Issue
from bot.engine.lint import has_errors, lint_knowledge_base, load_knowledge_base
from tests.shared import REPO

KB_FIXTURES = REPO / "tests" / "kb"
VALID = KB_FIXTURES / "valid"
INVALID = sorted(path for path in (KB_FIXTURES / "invalid").iterdir() if path.is_dir())
REQUIRED_CODES = {
    "KB100", "KB101", "KB102", "KB201", "KB202", "KB203", "KB204", "KB205", "KB206", "KB207",
    "KB209", "KB210", "KB211", "KB212", "KB301", "KB302", "KB303", "KB401", "KB402", "KB403",
    "KB404", "KB501", "KB502", "KB503", "KB504", "KB505",
}  # fmt: skip


def _code(fixture: Path) -> str:
    return fixture.name.split("_", 1)[0]


def _codes(issues: list[Issue], severity: str) -> set[str]:
    return {issue.code for issue in issues if issue.severity == severity}


def test_the_valid_fixture_lints_with_no_errors_and_no_warnings() -> None:
    assert [issue.render() for issue in lint_knowledge_base(VALID, checks=KB_CHECKS)] == []


def test_the_valid_fixture_loads() -> None:
    assert load_knowledge_base(VALID, checks=KB_CHECKS).version == "fixture.1"


def test_there_is_an_invalid_fixture_for_every_required_code() -> None:
    assert {_code(fixture) for fixture in INVALID} >= REQUIRED_CODES


@pytest.mark.parametrize("fixture", INVALID, ids=lambda path: path.name)
def test_an_invalid_fixture_yields_exactly_its_code(fixture: Path) -> None:
    code = _code(fixture)
    issues = lint_knowledge_base(fixture, checks=KB_CHECKS)
    rendered = [issue.render() for issue in issues]

    if code.startswith("KB5"):
        assert (_codes(issues, "error"), _codes(issues, "warning")) == (set(), {code}), rendered
        assert has_errors(issues) is False
        assert has_errors(issues, strict=True) is True
    else:
        assert _codes(issues, "error") == {code}, rendered
        assert has_errors(issues) is True
