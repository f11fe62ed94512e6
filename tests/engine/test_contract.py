"""knowledge/ against the shared clinical contract in ../shared/clinical/ (skipped without it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.engine.kb.loader import default_knowledge_dir
from tests.engine.helpers import real_kb
from tests.shared import shared_file


def _entries(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, list), path
    return data


def test_findings_cover_every_shared_code() -> None:
    shared = {entry["code"] for entry in _entries(shared_file("clinical/findings.yaml"))}

    assert {finding.code for finding in real_kb().findings} == shared


def test_findings_have_exactly_the_shared_values() -> None:
    shared = {e["code"]: e["values"] for e in _entries(shared_file("clinical/findings.yaml"))}

    ours = {finding.code: list(finding.values) for finding in real_kb().findings}
    assert {code: ours.get(code) for code in shared} == shared


def test_shared_values_are_strings_not_yaml_booleans() -> None:
    for entry in _entries(shared_file("clinical/findings.yaml")):
        assert all(isinstance(value, str) for value in entry["values"]), entry["code"]


def test_advice_codes_are_exactly_the_shared_codes() -> None:
    shared = [entry["code"] for entry in _entries(shared_file("clinical/advice_codes.yaml"))]

    assert sorted(real_kb().advice_codes) == sorted(shared)


def test_never_flags_are_exactly_the_shared_never_flags() -> None:
    entries = _entries(shared_file("clinical/advice_codes.yaml"))
    shared = {entry["code"] for entry in entries if entry.get("never")}

    assert set(real_kb().never_codes) == shared


def test_our_advice_codes_file_marks_never_the_same_way() -> None:
    """The loader derives never_codes; check the raw file too, so a loader change is caught."""
    shared = {e["code"]: bool(e.get("never")) for e in
              _entries(shared_file("clinical/advice_codes.yaml"))}  # fmt: skip
    ours = {e["code"]: bool(e.get("never")) for e in
            _entries(default_knowledge_dir() / "advice_codes.yaml")}  # fmt: skip

    assert ours == shared
