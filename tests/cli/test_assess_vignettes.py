"""Every public clinical vignette through `crampcheck assess`, judged as the brief says."""

from __future__ import annotations

import contextlib
import io
import json
import re
import statistics
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from bot.engine import load_knowledge_base, run_case
from tests.shared import shared_file

LEVELS = ["self_care", "doctor", "urgent", "emergency"]


def forbidden_codes() -> dict[str, set[str]]:
    """Read the must_not_advise -> advice-code mapping from the comments of the contract."""
    text = shared_file("clinical/advice_codes.yaml").read_text(encoding="utf-8")
    mapping: dict[str, set[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        match = re.match(r"#\s+([a-z_, ]+?)\s+->\s+(.*)$", line)
        if match:
            current = [name.strip() for name in match.group(1).split(",")]
            target = match.group(2).strip()
            for name in current:
                codes = set(current) if target == "the same code" else _codes(target)
                mapping[name] = {name} if target == "the same code" else codes
        elif current and re.match(r"#\s{10,}\S", line):
            for name in current:
                mapping[name] |= _codes(line.lstrip("# "))
    return mapping


def _codes(text: str) -> set[str]:
    return {code.strip() for code in text.split(",") if code.strip()}


@pytest.fixture(scope="module")
def assessed() -> tuple[list[Any], dict[str, Any]]:
    vignettes = json.loads(shared_file("clinical/vignettes-public.json").read_text())
    results = _assess(shared_file("clinical/vignettes-public.json"))
    return vignettes, {result["id"]: result for result in results}


def _assess(path: Path) -> list[dict[str, Any]]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["assess", str(path)]) == 0
    data: list[dict[str, Any]] = json.loads(buffer.getvalue())
    return data


def test_mapping_is_read_from_the_contract() -> None:
    mapping = forbidden_codes()
    assert mapping["salt_loading"] == {"salt_loading", "electrolyte_drink", "salty_food"}
    assert "drink_to_thirst" in mapping["oral_fluids_if_confused"]
    assert mapping["quinine"] == {"quinine"}
    assert mapping["massage_or_stretch_hard"] == {"stretch_or_massage"}


def test_every_vignette_is_assessed(assessed: tuple[list[Any], dict[str, Any]]) -> None:
    vignettes, results = assessed
    assert {v["id"] for v in vignettes} == set(results)


def test_triage_is_within_the_acceptable_levels(
    assessed: tuple[list[Any], dict[str, Any]],
) -> None:
    vignettes, results = assessed
    wrong = {
        v["id"]: (results[v["id"]]["triage"], v["acceptable_triage"])
        for v in vignettes
        if results[v["id"]]["triage"] not in v["acceptable_triage"]
    }
    assert wrong == {}


def test_no_emergency_or_urgent_case_is_under_triaged(
    assessed: tuple[list[Any], dict[str, Any]],
) -> None:
    vignettes, results = assessed
    under = [
        v["id"]
        for v in vignettes
        if v["expected_triage"] in ("urgent", "emergency")
        and LEVELS.index(results[v["id"]]["triage"])
        < min(LEVELS.index(level) for level in v["acceptable_triage"])
    ]
    assert under == []


def test_top_cause_is_an_expected_one(assessed: tuple[list[Any], dict[str, Any]]) -> None:
    vignettes, results = assessed
    wrong = {
        v["id"]: results[v["id"]]["causes"][:1]
        for v in vignettes
        if v["expected_causes"]
        and (
            not results[v["id"]]["causes"]
            or results[v["id"]]["causes"][0]["code"] not in v["expected_causes"]
        )
    }
    assert wrong == {}


def test_no_forbidden_advice(assessed: tuple[list[Any], dict[str, Any]]) -> None:
    vignettes, results = assessed
    mapping = forbidden_codes()
    given = {}
    for vignette in vignettes:
        forbidden = set().union(*(mapping.get(n, {n}) for n in vignette["must_not_advise"]))
        overlap = forbidden & set(results[vignette["id"]]["advice_codes"])
        if overlap:
            given[vignette["id"]] = sorted(overlap)
    assert given == {}


def test_every_result_has_advice_and_reports_screens_and_taps(
    assessed: tuple[list[Any], dict[str, Any]],
) -> None:
    _, results = assessed
    for result in results.values():
        assert result["advice_codes"], result["id"]
        assert 1 <= result["questions"] <= result["taps"]
        assert result["asked"][0] == "cramp_now"
        assert 1 <= result["screens_to_level"] <= result["questions"]


def test_the_level_is_final_within_four_screens_at_the_median_and_five_at_most(
    assessed: tuple[list[Any], dict[str, Any]],
) -> None:
    """Issue 13: a safe answer in 4 screens (median), 5 at most."""
    _, results = assessed
    screens = [result["screens_to_level"] for result in results.values()]
    assert statistics.median(screens) <= 4
    assert max(screens) <= 5


def test_the_whole_answer_takes_at_most_seven_screens_and_ten_taps_at_the_median(
    assessed: tuple[list[Any], dict[str, Any]],
) -> None:
    """Issue 13: the whole answer in 7 screens and 10 taps (median), the Tailor press included."""
    _, results = assessed
    assert statistics.median(r["questions"] for r in results.values()) <= 7
    assert statistics.median(r["taps"] for r in results.values()) <= 10


def test_the_interim_answer_has_the_final_level_and_no_forbidden_advice() -> None:
    """The level shown early is final, and what the interim answer says is safe as well."""
    kb = load_knowledge_base()
    mapping = forbidden_codes()
    vignettes = json.loads(shared_file("clinical/vignettes-public.json").read_text())
    for vignette in vignettes:
        run = run_case(kb, vignette["facts"])
        if run.interim is None:
            continue
        forbidden = set().union(*(mapping.get(n, {n}) for n in vignette["must_not_advise"]))
        assert run.interim.level is run.result.level, vignette["id"]
        assert not forbidden & set(run.interim.advice_codes), vignette["id"]
