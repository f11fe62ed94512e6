"""Lint of checklist items standing for values of multi-valued findings (shared CONTRACT of
findings.yaml): KB302 no value or an unknown one, KB304 disagreeing unticked values, KB305 a
cover that a condition tells apart, KB306 a rule value no question records, KB307 a rule that
cannot fire."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.engine.lint import lint_knowledge_base
from tests.shared import REPO

VALID = REPO / "tests" / "kb" / "valid"
EFFORT = '\n- code: effort\n  values: ["low", "high", "max"]\n  label: {en: "effort"}\n'
ITEM = '    - finding: sweating\n      label: {en: "Heavy sweating"}\n'


def lint_with(tmp_path: Path, items: str, rule: str = "") -> set[str]:
    """Lint the valid fixture with `effort` added, `items` on the heat checklist, and `rule`."""
    root = tmp_path / "kb"
    shutil.copytree(VALID, root)
    findings = root / "findings.yaml"
    findings.write_text(findings.read_text() + EFFORT)
    more = root / "questions" / "more.yaml"
    more.write_text(more.read_text().replace(ITEM, ITEM + items))
    rules = root / "rules.yaml"
    rules.write_text(rules.read_text() + rule)
    return {issue.code for issue in lint_knowledge_base(root) if issue.severity == "error"}


def item(value: str = "", unticked: str = "", covers: str = "", key: str = "") -> str:
    lines = ["    - finding: effort"]
    lines += [f'      value: "{value}"'] if value else []
    lines += [f"      covers: {covers}"] if covers else []
    lines += [f'      unticked: "{unticked}"'] if unticked else []
    lines += [f"      id: {key}"] if key else []
    return "\n".join([*lines, '      label: {en: "Effort"}']) + "\n"


def rule(when: str) -> str:
    return (
        f"- id: effort_rule\n  level: doctor\n  when: {when}\n"
        '  reason: {en: "Effort."}\n  source: "fixture"\n'
    )


MAX = rule('{finding: effort, in: ["max"]}')


def test_items_for_each_value_with_one_unticked_value_lint_clean(tmp_path: Path) -> None:
    items = item("max", "low") + item("high", "low")
    assert lint_with(tmp_path, items, MAX) == set()


@pytest.mark.parametrize(
    "items",
    [item(), item("huge", "low"), item("high", "none")],
    ids=["yes-default-on-multi-valued", "unknown-value", "unknown-unticked"],
)
def test_an_item_without_a_valid_value_is_kb302(tmp_path: Path, items: str) -> None:
    assert "KB302" in lint_with(tmp_path, items)


def test_items_of_one_finding_with_different_unticked_values_are_kb304(tmp_path: Path) -> None:
    assert "KB304" in lint_with(tmp_path, item("max", "low") + item("high", "high"), MAX)


def test_an_item_covering_values_a_rule_tells_apart_is_kb305(tmp_path: Path) -> None:
    assert "KB305" in lint_with(tmp_path, item("high", "low", '["high", "max"]'), MAX)


def test_a_rule_value_no_question_records_is_kb306(tmp_path: Path) -> None:
    assert "KB306" in lint_with(tmp_path, item("high", "low"), MAX)


def test_a_rule_that_can_never_fire_is_kb307(tmp_path: Path) -> None:
    impossible = rule('{all: [{finding: effort, in: ["max"]}, {finding: effort, in: ["low"]}]}')
    assert "KB307" in lint_with(tmp_path, item("max", "low"), impossible)
