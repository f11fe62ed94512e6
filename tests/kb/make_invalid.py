"""Regenerate tests/kb/invalid/: each folder is tests/kb/valid/ with ONE rule broken.

Run from the repository root after changing the valid fixture:
    python tests/kb/make_invalid.py
A folder is named <CODE>_<what>; tests/engine/lint/test_fixtures.py asserts it yields exactly CODE.
Each patch replaces text that must occur exactly once, so a drifting base fails loudly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
VALID = HERE / "valid"
INVALID = HERE / "invalid"

Edit = tuple[str, str, str | None]
"""(file, old text, new text); new None deletes the whole file."""

NEW_QUESTION = """
- id: duration_again
  kind: single
  finding: duration
  text: {en: "How long, again?"}
  options:
    - {value: "short", label: {en: "Minutes"}}
    - {value: "long", label: {en: "Over an hour"}}
"""
SECOND_RULE = '- id: swollen_calf\n  level: urgent\n  when: {finding: swollen_calf, in: ["yes"]}'

PATCHES: dict[str, list[Edit]] = {
    # --------------------------------------------------------------- structure --
    "KB100_yaml_syntax": [
        (
            "causes.yaml",
            '  summary: {en: "The muscle was worked too hard."}',
            "  summary: The muscle: worked too hard.",
        )
    ],
    "KB101_unknown_key": [
        (
            "rules.yaml",
            '  trip_card: {en: "chest pain"}\n- id: swollen_calf',
            '  trip_card: {en: "chest pain"}\n  colour: red\n- id: swollen_calf',
        ),
    ],
    "KB101_missing_text": [
        ("questions/more.yaml", '  text: {en: "How long does it last?"}\n', "")
    ],
    "KB102_missing_file": [("causes.yaml", "", None)],
    # -------------------------------------------------------------- references --
    "KB201_unknown_finding": [
        ("rules.yaml", "{finding: swollen_calf, in:", "{finding: swollen_calfs, in:"),
    ],
    "KB202_unknown_value": [
        ("rules.yaml", '{finding: duration, in: ["long"]}', '{finding: duration, in: ["longer"]}'),
    ],
    "KB203_unknown_pattern": [
        ("rules.yaml", "when: {pattern: overheated}", "when: {pattern: overheat}")
    ],
    "KB203_unknown_cause": [
        (
            "advice.yaml",
            "show_if: {cause: overuse}",
            "show_if: {any: [{cause: overuse}, {cause: ovruse}]}",
        ),
    ],
    "KB203_unknown_advice": [("kb.yaml", "    advice: first_aid", "    advice: first_aide")],
    "KB204_unknown_advice_code": [
        ("advice.yaml", "codes: [book_doctor]", "codes: [book_docter]"),
    ],
    "KB205_never_code": [
        ("advice.yaml", "codes: [pace_and_training]", "codes: [pace_and_training, quinine]"),
    ],
    "KB206_missing_language": [
        ("advice.yaml", 'text: {en: "Build up gradually."}', 'text: {nb: "Bygg opp gradvis."}'),
    ],
    "KB207_duplicate_id": [("rules.yaml", "- id: long_cramp", "- id: swollen_calf")],
    "KB209_cause_in_rule": [
        ("rules.yaml", 'when: {finding: frequency, in: ["often"]}', "when: {cause: overuse}"),
    ],
    "KB210_advice_without_codes": [
        ("advice.yaml", "codes: [pace_and_training]", "codes: []"),
    ],
    "KB211_rule_without_trip_card": [
        ("rules.yaml", '  trip_card: {en: "a swollen calf"}\n', ""),
    ],
    "KB212_trip_card_over_one_message": [
        (
            "kb.yaml",
            'trip_card_say: {en: "Say who and where."}',
            f'trip_card_say: {{en: "{"Say. " * 820}"}}',
        ),
    ],
    # ----------------------------------------------------------------- routing --
    "KB301_options_not_exhaustive": [
        ("findings.yaml", 'values: ["short", "long"]', 'values: ["short", "long", "constant"]'),
    ],
    "KB302_checklist_item_not_yes_no": [
        (
            "findings.yaml",
            '- code: hot\n  values: ["yes", "no"]',
            '- code: hot\n  values: ["yes", "no", "sometimes"]',
        ),
    ],
    "KB303_finding_asked_twice": [
        (
            "questions/more.yaml",
            '    - {value: "often", label: {en: "Often"}}\n',
            '    - {value: "often", label: {en: "Often"}}\n' + NEW_QUESTION,
        ),
    ],
    # ------------------------------------------------------------------- graph --
    "KB401_ask_if_reads_later_finding": [
        (
            "questions/more.yaml",
            "- id: heat\n  kind: checklist\n",
            "- id: heat\n  kind: checklist\n"
            '  ask_if: {finding: frequency, in: ["rare", "unknown"]}\n',
        ),
    ],
    "KB402_unreachable_question": [
        (
            "questions/more.yaml",
            'ask_if: {finding: duration, in: ["short", "unknown"]}',
            'ask_if: {all: [{finding: duration, in: ["short"]},'
            ' {finding: duration, in: ["long"]}]}',
        ),
    ],
    "KB403_pattern_cycle": [
        (
            "kb.yaml",
            "patterns:\n",
            "patterns:\n  loop_a: {pattern: loop_b}\n  loop_b: {pattern: loop_a}\n",
        ),
    ],
    "KB404_level_without_advice": [
        (
            "advice.yaml",
            "- id: see_today\n  section: action\n  codes: [same_day_care]\n"
            '  show_if: {level: ["urgent"]}\n  text: {en: "Get medical advice today."}\n',
            "",
        ),
    ],
    # ---------------------------------------------------------------- warnings --
    "KB501_unused_cause": [
        (
            "causes.yaml",
            "- id: heat\n",
            '- id: cold\n  name: {en: "Cold"}\n  summary: {en: "Cold weather."}\n- id: heat\n',
        ),
    ],
    "KB502_advice_never_shown": [
        (
            "advice.yaml",
            "- id: safety_net\n",
            "- id: never_shown\n  section: care\n  codes: [cool_down]\n"
            '  show_if: {all: [{finding: hot, in: ["yes"]}, {finding: hot, in: ["no"]}]}\n'
            '  text: {en: "Never."}\n- id: safety_net\n',
        ),
    ],
    "KB503_finding_never_asked": [
        (
            "findings.yaml",
            "- code: frequency\n",
            '- code: age\n  values: ["young", "old"]\n  label: {en: "age"}\n- code: frequency\n',
        ),
    ],
    "KB505_trip_card_over_aim": [
        (
            "kb.yaml",
            'trip_card_say: {en: "Say who and where."}',
            f'trip_card_say: {{en: "{"Say. " * 300}"}}',
        ),
    ],
    "KB505_trip_card_label_never_shown": [
        (
            "rules.yaml",
            '  reason: {en: "Frequent cramps."}\n',
            '  reason: {en: "Frequent cramps."}\n  trip_card: {en: "frequent cramps"}\n',
        ),
    ],
    "KB504_empty_help": [
        ("questions/start.yaml", 'help: {en: "Press Done when finished."}', 'help: {en: ""}'),
    ],
}


def build(name: str, edits: list[Edit]) -> None:
    target = INVALID / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(VALID, target)
    for file, old, new in edits:
        path = target / file
        if new is None:
            path.unlink()
            continue
        text = path.read_text(encoding="utf-8")
        if text.count(old) != 1:
            raise SystemExit(f"{name}: {file} must contain the patched text exactly once: {old!r}")
        path.write_text(text.replace(old, new), encoding="utf-8")


def main() -> None:
    for name, edits in PATCHES.items():
        build(name, edits)


if __name__ == "__main__":
    main()
