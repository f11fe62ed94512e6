"""`crampcheck kb lint` logic: the real knowledge base, issue locations, hints and robustness.

Most cases patch a copy of tests/kb/valid/ in tmp_path; the on-disk fixtures are covered by
test_fixtures.py.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from bot.cli.main import KB_CHECKS
from bot.engine.errors import KnowledgeBaseError
from bot.engine.issues import Issue
from bot.engine.kb.loader import default_knowledge_dir
from bot.engine.lint import has_errors, lint_knowledge_base, load_knowledge_base
from tests.shared import REPO

KB_FIXTURES = REPO / "tests" / "kb"
VALID = KB_FIXTURES / "valid"
INVALID = KB_FIXTURES / "invalid"
ISSUE_LINE = re.compile(
    r"^(?P<file>[\w./]+\.yaml)(:(?P<line>\d+))?: (?P<path>\S+): (?P<code>KB\d{3}) .+$"
)


def patched(tmp_path: Path, *edits: tuple[str, str, str]) -> Path:
    """Copy the valid fixture to tmp_path and replace `old` by `new` (once) in `file`."""
    target = tmp_path / "kb"
    shutil.copytree(VALID, target)
    for file, old, new in edits:
        path = target / file
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, (file, old)
        path.write_text(text.replace(old, new), encoding="utf-8")
    return target


def line_of(directory: Path, file: str, marker: str) -> int:
    """Return the 1-based line of `file` that contains `marker` (exactly one must)."""
    lines = (directory / file).read_text(encoding="utf-8").splitlines()
    hits = [number for number, line in enumerate(lines, start=1) if marker in line]
    assert len(hits) == 1, (file, marker, hits)
    return hits[0]


def codes(issues: list[Issue]) -> set[str]:
    return {issue.code for issue in issues}


# ------------------------------------------------------------------ real KB --
def test_the_real_knowledge_base_lints_with_no_errors_and_no_warnings() -> None:
    issues = lint_knowledge_base(default_knowledge_dir(), checks=KB_CHECKS)
    assert [issue.render() for issue in issues] == []


# ------------------------------------------------------------- issue format --
def test_an_issue_renders_as_file_line_path_code_message() -> None:
    issue = Issue("KB201", "error", "rules.yaml", 8, "1.when", "unknown finding 'x'")

    assert issue.render() == "rules.yaml:8: 1.when: KB201 unknown finding 'x'"


def test_an_issue_without_line_or_path_renders_file_and_top() -> None:
    issue = Issue("KB102", "error", "causes.yaml", None, "", "file is missing")

    assert issue.render() == "causes.yaml: (top): KB102 file is missing"


@pytest.mark.parametrize("fixture", sorted(INVALID.iterdir()), ids=lambda path: path.name)
def test_every_fixture_issue_renders_in_the_documented_format(fixture: Path) -> None:
    for issue in lint_knowledge_base(fixture):
        match = ISSUE_LINE.match(issue.render())
        assert match, issue.render()
        assert (match["file"], match["code"]) == (issue.file, issue.code)
        assert match["line"] == (str(issue.line) if issue.line else None)


# -------------------------------------------------------- KB1xx: structure --
def test_yaml_syntax_error_names_file_and_line() -> None:
    fixture = INVALID / "KB100_yaml_syntax"
    [issue] = lint_knowledge_base(fixture)

    assert (issue.code, issue.file) == ("KB100", "causes.yaml")
    assert issue.line == line_of(fixture, "causes.yaml", "The muscle: worked")


def test_missing_file_is_kb102_naming_the_file() -> None:
    [issue] = lint_knowledge_base(INVALID / "KB102_missing_file")

    assert (issue.code, issue.file) == ("KB102", "causes.yaml")


def test_missing_question_file_is_kb102_naming_the_question_file(tmp_path: Path) -> None:
    kb = patched(tmp_path, ("kb.yaml", "[start, more]", "[start, more, extra]"))

    assert [(i.code, i.file) for i in lint_knowledge_base(kb)] == [
        ("KB102", "questions/extra.yaml")
    ]


# (file, old, new) edits, then where the KB101 issue must point: file, marker of the line, path.
SCHEMA_CASES = {
    "unknown-key-in-a-rule": (
        [("rules.yaml", '  trip_card: {en: "chest pain"}\n- id: swollen_calf',
          '  trip_card: {en: "chest pain"}\n  colour: red\n- id: swollen_calf')],
        "rules.yaml", "colour: red", "0.colour",
    ),
    "missing-text-of-a-question": (
        [("questions/more.yaml", '  text: {en: "How long does it last?"}\n', "")],
        "questions/more.yaml", "- id: duration", "0.text",
    ),
    "unknown-key-in-a-checklist-item": (
        [("questions/start.yaml", '      label: {en: "Chest pain"}',
          '      label: {en: "Chest pain"}\n      colour: red')],
        "questions/start.yaml", "colour: red", "1.items.0.colour",
    ),
    "bad-section-of-an-advice-block": (
        [("advice.yaml", "  section: prevention", "  section: later")],
        "advice.yaml", "section: later", "6.section",
    ),
    "unknown-top-level-key-in-kb-yaml": (
        [("kb.yaml", 'version: "fixture.1"\n', 'version: "fixture.1"\ncolour: red\n')],
        "kb.yaml", "colour: red", "colour",
    ),
    "unknown-key-in-a-block-style-condition": (
        [("rules.yaml", '  when: {finding: swollen_calf, in: ["yes"]}',
          '  when:\n    finding: swollen_calf\n    in: ["yes"]\n    colour: red')],
        "rules.yaml", "colour: red", "1.when.colour",
    ),
    "unknown-key-in-a-card": (
        [("kb.yaml", "    advice: first_aid", "    advice: first_aid\n    colour: red")],
        "kb.yaml", "colour: red", "cards.0.colour",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("edits", "file", "marker", "path"), SCHEMA_CASES.values(), ids=SCHEMA_CASES.keys()
)
def test_schema_error_is_kb101_at_the_right_file_line_and_path(
    tmp_path: Path, edits: list[tuple[str, str, str]], file: str, marker: str, path: str
) -> None:
    kb = patched(tmp_path, *edits)

    [issue] = lint_knowledge_base(kb)

    assert issue.code == "KB101"
    assert (issue.file, issue.path, issue.line) == (file, path, line_of(kb, file, marker))


def test_structural_issues_of_several_files_are_all_reported(tmp_path: Path) -> None:
    kb = patched(
        tmp_path,
        ("rules.yaml", "  level: urgent", "  level: panic"),
        ("advice.yaml", "  section: prevention", "  section: later"),
        ("causes.yaml", "  prior: 1", "  prior: 9"),
    )

    assert sorted(issue.file for issue in lint_knowledge_base(kb)) == [
        "advice.yaml", "causes.yaml", "rules.yaml",
    ]  # fmt: skip


def test_advice_with_an_empty_codes_list_passes_the_schema_and_is_kb210() -> None:
    """The model allows `codes: []`; lint, not the schema, rejects it, and so does loading."""
    fixture = INVALID / "KB210_advice_without_codes"

    assert codes(lint_knowledge_base(fixture)) == {"KB210"}
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(fixture)
    assert {issue.code for issue in raised.value.issues} == {"KB210"}


# ------------------------------------------------------- KB2xx: references --
@pytest.mark.parametrize(
    ("fixture", "hint"),
    [
        ("KB201_unknown_finding", "did you mean 'swollen_calf'?"),
        ("KB202_unknown_value", "did you mean 'long'?"),
        ("KB203_unknown_pattern", "did you mean 'overheated'?"),
        ("KB203_unknown_cause", "did you mean 'overuse'?"),
        ("KB203_unknown_advice", "did you mean 'first_aid'?"),
        ("KB204_unknown_advice_code", "did you mean 'book_doctor'?"),
    ],
)
def test_an_unknown_reference_comes_with_a_did_you_mean_hint(fixture: str, hint: str) -> None:
    [issue] = lint_knowledge_base(INVALID / fixture)

    assert hint in issue.message


def test_unknown_finding_points_at_the_condition() -> None:
    [issue] = lint_knowledge_base(INVALID / "KB201_unknown_finding")

    assert (issue.file, issue.path) == ("rules.yaml", "1.when")
    assert issue.line == line_of(INVALID / "KB201_unknown_finding", "rules.yaml", "swollen_calfs")


def test_meaning_issues_are_all_collected_not_just_the_first(tmp_path: Path) -> None:
    kb = patched(
        tmp_path,
        ("rules.yaml", "{finding: swollen_calf, in:", "{finding: swollen_calfs, in:"),
        ("advice.yaml", "codes: [book_doctor]", "codes: [book_docter]"),
        ("rules.yaml", "- id: long_cramp", "- id: chest_pain"),
    )

    assert codes(lint_knowledge_base(kb)) == {"KB201", "KB204", "KB207"}


def test_a_level_condition_in_a_rule_is_kb209(tmp_path: Path) -> None:
    kb = patched(tmp_path, ("rules.yaml", "when: {pattern: overheated}",
                            'when: {level: ["urgent"]}'))  # fmt: skip

    assert codes(lint_knowledge_base(kb)) == {"KB209"}


def test_a_level_condition_in_ask_if_is_allowed(tmp_path: Path) -> None:
    kb = patched(
        tmp_path,
        ("questions/more.yaml", 'ask_if: {finding: duration, in: ["short", "unknown"]}',
         'ask_if: {level: ["self_care", "doctor"]}'),
    )  # fmt: skip

    assert lint_knowledge_base(kb) == []


def test_an_unknown_pattern_in_ask_if_is_reported_not_a_crash(tmp_path: Path) -> None:
    """Lint bug: _satisfiable() evaluates the ask_if and `holds` raises KeyError('overheat')."""
    kb = patched(
        tmp_path,
        ("questions/more.yaml", 'ask_if: {finding: duration, in: ["short", "unknown"]}',
         "ask_if: {pattern: overheat}"),
    )  # fmt: skip

    assert codes(lint_knowledge_base(kb)) == {"KB203"}


def test_an_unknown_pattern_in_show_if_is_reported_not_a_crash(tmp_path: Path) -> None:
    """Lint bug: the KB404/KB502 satisfiability check raises KeyError('overheat')."""
    kb = patched(tmp_path, ("advice.yaml", "show_if: {cause: heat}",
                            "show_if: {any: [{cause: heat}, {pattern: overheat}]}"))  # fmt: skip

    assert codes(lint_knowledge_base(kb)) == {"KB203"}


def test_an_empty_text_is_kb206(tmp_path: Path) -> None:
    """Lint bug: `text: {}` passes lint although localize() then raises KeyError('en')."""
    kb = patched(tmp_path, ("questions/more.yaml", 'text: {en: "How long does it last?"}',
                            "text: {}"))  # fmt: skip

    assert codes(lint_knowledge_base(kb)) == {"KB206"}


def test_a_knowledge_base_the_engine_cannot_start_neither_lints_nor_loads(tmp_path: Path) -> None:
    """Without texts.not_sure the engine could not start: lint and loading both refuse it."""
    kb = patched(tmp_path, ("kb.yaml", '  not_sure: {en: "Not sure"}', '  other: {en: "x"}'))

    assert has_errors(lint_knowledge_base(kb))
    with pytest.raises(KnowledgeBaseError, match="1 error"):
        load_knowledge_base(kb)


# ------------------------------------------------------------ KB4xx: graph --
def test_a_pattern_cycle_used_by_advice_is_kb403_not_a_crash(tmp_path: Path) -> None:
    """Lint bug: _nodes() follows the cycle forever and raises RecursionError."""
    kb = patched(
        tmp_path,
        ("kb.yaml", "patterns:\n", "patterns:\n  loop_a: {pattern: loop_b}\n"
         "  loop_b: {pattern: loop_a}\n"),
        ("advice.yaml", "show_if: {cause: heat}",
         "show_if: {any: [{cause: heat}, {pattern: loop_a}]}"),
    )  # fmt: skip

    assert codes(lint_knowledge_base(kb)) == {"KB403"}


def test_a_pattern_cycle_names_the_patterns_in_order() -> None:
    messages = [issue.message for issue in lint_knowledge_base(INVALID / "KB403_pattern_cycle")]

    assert "loop_a -> loop_b -> loop_a" in " ".join(messages)


def test_ask_if_reading_an_earlier_question_is_fine_but_a_later_one_is_kb401() -> None:
    [issue] = lint_knowledge_base(INVALID / "KB401_ask_if_reads_later_finding")

    assert (issue.file, issue.path) == ("questions/more.yaml", "1.ask_if")
    assert "frequency" in issue.message


def test_level_without_advice_names_the_level() -> None:
    [issue] = lint_knowledge_base(INVALID / "KB404_level_without_advice")

    assert "urgent" in issue.message


# ---------------------------------------------------------------- has_errors --
def test_has_errors_ignores_warnings_unless_strict() -> None:
    warning = Issue("KB501", "warning", "causes.yaml", 1, "0", "unused")
    error = Issue("KB201", "error", "rules.yaml", 1, "0", "unknown")

    assert (has_errors([]), has_errors([], strict=True)) == (False, False)
    assert (has_errors([warning]), has_errors([warning], strict=True)) == (False, True)
    assert has_errors([warning, error]) is True


def test_a_trip_card_label_without_norwegian_is_kb206_at_the_rule(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), knowledge)
    rules = knowledge / "rules.yaml"
    label = '{en: "cold, pale leg or arm", nb: "kaldt, blekt bein eller arm"}'
    text = rules.read_text(encoding="utf-8")
    assert text.count(label) == 1
    rules.write_text(text.replace(label, '{en: "cold, pale leg or arm"}'), encoding="utf-8")

    issues = lint_knowledge_base(knowledge)

    assert [(i.code, i.file, i.path.endswith("trip_card")) for i in issues] == [
        ("KB206", "rules.yaml", True)
    ]


def test_an_emergency_rule_without_a_trip_card_label_is_kb211(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(default_knowledge_dir(), knowledge)
    rules = knowledge / "rules.yaml"
    label = '  trip_card: {en: "cold, pale leg or arm", nb: "kaldt, blekt bein eller arm"}\n'
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace(label, ""), encoding="utf-8")

    issues = lint_knowledge_base(knowledge)

    assert [(i.code, i.severity) for i in issues] == [("KB211", "error")]
    assert "cold_pale_limb" in issues[0].message
