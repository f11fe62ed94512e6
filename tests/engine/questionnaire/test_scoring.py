"""Scoring: triage level from rules, cause ranking, likely causes, and advice selection."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings

from bot.engine.kb.conditions import FindingIs
from bot.engine.kb.evaluation import findings_in
from bot.engine.kb.models import SECTION_ORDER, KnowledgeBase, Signal
from bot.engine.primitives import UNKNOWN, Level
from bot.engine.questionnaire.scoring import (
    LIKELY_SCORE,
    CauseScore,
    likely_causes,
    rank_causes,
    select_advice,
    triage,
    triage_level,
)
from tests.engine.helpers import fact_sets, real_kb, walk


def _advice_ids(
    kb: KnowledgeBase, answers: dict[str, str], level: Level, *causes: str
) -> list[str]:
    blocks = select_advice(kb, answers, level=level, causes=frozenset(causes))
    return [block.id for block in blocks]


# ----------------------------------------------------------------------- triage --
@pytest.mark.parametrize(
    ("answers", "level", "rules"),
    [
        ({}, Level.SELF_CARE, set()),
        ({"duration": "long"}, Level.DOCTOR, {"long"}),
        ({"duration": "long", "calf": "yes"}, Level.URGENT, {"long", "calf"}),
        (
            {"calf": "yes", "pain": "severe"},
            Level.EMERGENCY,
            {"calf", "severe_pain", "clot_with_pain"},
        ),
        ({"chest_pain": "yes", "frequency": "often"}, Level.EMERGENCY, {"chest_pain", "often"}),
    ],
)
def test_level_is_the_most_urgent_level_of_the_rules_that_fired(
    kb: KnowledgeBase, answers: dict[str, str], level: Level, rules: set[str]
) -> None:
    found, hits = triage(kb, answers)

    assert found is level
    assert {hit.rule.id for hit in hits} == rules


def test_adding_findings_never_lowers_the_level(kb: KnowledgeBase) -> None:
    """Every combination of the urgent-making findings, each added on top of the others."""
    extras = [("calf", "yes"), ("pain", "severe"), ("duration", "long"), ("frequency", "often")]
    for size in range(len(extras)):
        for chosen in itertools.combinations(extras, size):
            base = dict(chosen)
            for code, value in extras:
                more = {**base, code: value}
                assert triage(kb, more)[0] >= triage(kb, base)[0], (base, more)


def test_unknown_fires_no_rule(kb: KnowledgeBase) -> None:
    answers = {finding.code: UNKNOWN for finding in kb.findings}

    assert triage(kb, answers) == (Level.SELF_CARE, ())


def test_a_rule_hit_names_the_answered_findings_it_read(kb: KnowledgeBase) -> None:
    answers = {"calf": "yes", "pain": "severe", "duration": UNKNOWN, "now": "yes"}

    hits = {hit.rule.id: hit.evidence for hit in triage(kb, answers)[1]}

    assert hits["clot_with_pain"] == {"calf": "yes", "pain": "severe"}
    assert hits["calf"] == {"calf": "yes"}


def test_results_report_the_level_of_the_rules(kb: KnowledgeBase) -> None:
    result = walk(kb, {"duration": "long", "stretch_helps": "no"}).result

    assert result.level is Level.URGENT
    assert {hit.rule.id for hit in result.rules} == {"long", "long_not_easing"}


# ----------------------------------------------------------------------- causes --
def test_causes_are_ranked_by_score_best_first(kb: KnowledgeBase) -> None:
    ranked = rank_causes(kb, {"calf": "yes"})

    assert [(s.cause, s.score) for s in ranked] == [("clot", 3), ("overuse", 1), ("habit", 0)]


def test_cause_score_is_prior_plus_fired_signal_weights(kb: KnowledgeBase) -> None:
    scores = {
        s.cause: s for s in rank_causes(kb, {"duration": "short", "calf": "yes", "dizzy": "yes"})
    }

    assert scores["overuse"].score == 1 + 1
    assert scores["clot"].score == 3 - 1
    assert [reason.reason for reason, _ in scores["clot"].signals] == [
        {"en": "calf"},
        {"en": "dizzy"},
    ]


def test_causes_with_equal_scores_keep_knowledge_base_order(kb: KnowledgeBase) -> None:
    # clot 3 - 1 = 2 and habit 2 tie; clot comes first in causes.yaml.
    ranked = rank_causes(kb, {"frequency": "often", "calf": "yes", "dizzy": "yes"})

    assert [(s.cause, s.score) for s in ranked] == [("clot", 2), ("habit", 2), ("overuse", 1)]


def test_with_no_signals_the_prior_decides_and_ties_keep_order(kb: KnowledgeBase) -> None:
    ranked = rank_causes(kb, {})

    assert [(s.cause, s.score) for s in ranked] == [("overuse", 1), ("clot", 0), ("habit", 0)]


_POINTER = Signal(when=FindingIs(finding="x", values=("yes",)), weight=1, reason={"en": "x"})


def _scores(*pairs: tuple[str, int], pointed: bool = True) -> tuple[CauseScore, ...]:
    """Cause scores; `pointed` gives each one a fired signal of positive weight."""
    signals = ((_POINTER, {"x": "yes"}),) if pointed else ()
    return tuple(CauseScore(cause, score, signals) for cause, score in pairs)


@pytest.mark.parametrize("level", [Level.SELF_CARE, Level.DOCTOR, Level.URGENT, Level.EMERGENCY])
@pytest.mark.parametrize(
    ("ranked", "likely"),
    [
        (_scores(("a", 1), ("b", 1)), ["a"]),
        (_scores(("a", 3), ("b", LIKELY_SCORE), ("c", LIKELY_SCORE - 1)), ["a", "b"]),
        (_scores(("a", 0), ("b", 0)), []),
        (_scores(("a", -1), ("b", -2)), []),
        ((), []),
    ],
)
def test_likely_causes_are_the_top_scoring_one_and_any_scoring_likely_score(
    ranked: tuple[CauseScore, ...], likely: list[str], level: Level
) -> None:
    assert [score.cause for score in likely_causes(ranked, level)] == likely


@pytest.mark.parametrize(
    ("level", "likely"),
    [(Level.SELF_CARE, ["a", "b"]), (Level.DOCTOR, ["a", "b"]), (Level.URGENT, []),
     (Level.EMERGENCY, [])],
)  # fmt: skip
def test_a_prior_alone_names_a_cause_only_below_urgent(level: Level, likely: list[str]) -> None:
    ranked = _scores(("a", 3), ("b", 2), pointed=False)

    assert [score.cause for score in likely_causes(ranked, level)] == likely


def test_result_names_only_the_likely_causes(kb: KnowledgeBase) -> None:
    result = walk(kb, {"duration": "short", "frequency": "often"}).result

    assert result.level is Level.DOCTOR
    assert [(s.cause, s.score) for s in result.causes] == [("overuse", 2), ("habit", 2)]


def test_an_urgent_result_does_not_name_a_cause_from_its_prior_alone(kb: KnowledgeBase) -> None:
    result = walk(kb, {"pain": "severe"}).result

    assert result.level is Level.URGENT
    assert result.causes == ()


# ----------------------------------------------------------------------- advice --
def test_advice_show_if_picks_blocks_for_the_level(kb: KnowledgeBase) -> None:
    assert _advice_ids(kb, {}, Level.EMERGENCY) == ["call_now", "safety_net"]
    assert _advice_ids(kb, {}, Level.URGENT) == ["see_today", "safety_net"]
    assert _advice_ids(kb, {}, Level.DOCTOR) == ["book", "stretch", "safety_net"]
    assert _advice_ids(kb, {}, Level.SELF_CARE) == ["stretch", "safety_net"]


def test_advice_hide_if_hides_a_block_whose_show_if_holds(kb: KnowledgeBase) -> None:
    assert "stretch" not in _advice_ids(kb, {"calf": "yes"}, Level.SELF_CARE)
    assert "stretch" in _advice_ids(kb, {"calf": "no"}, Level.SELF_CARE)


def test_advice_can_depend_on_the_likely_causes(kb: KnowledgeBase) -> None:
    assert "pacing" in _advice_ids(kb, {}, Level.SELF_CARE, "overuse")
    assert "pacing" not in _advice_ids(kb, {}, Level.SELF_CARE, "clot")


def test_advice_comes_in_section_order_whatever_the_file_order(kb: KnowledgeBase) -> None:
    blocks = select_advice(
        kb, {}, level=Level.DOCTOR, causes=frozenset({"overuse", "clot", "habit"})
    )

    assert [block.id for block in blocks] == [
        "book", "stretch", "clot_care", "habit_check", "pacing", "safety_net",
    ]  # fmt: skip
    sections = [SECTION_ORDER.index(block.section) for block in blocks]
    assert sections == sorted(sections)


def test_card_blocks_are_never_part_of_selected_advice(kb: KnowledgeBase) -> None:
    for level in Level:
        blocks = select_advice(kb, {"now": "yes"}, level=level, causes=frozenset())
        assert all(block.section != "card" for block in blocks)


def test_cards_never_appear_in_a_result(kb: KnowledgeBase) -> None:
    run = walk(kb, {"now": "yes"})

    assert run.card_ids == ["first_aid"]
    assert "first_aid" not in [block.id for block in run.result.advice]
    assert "card" not in {block.section for block in run.result.advice}


def test_result_advice_codes_are_the_sorted_union_of_the_blocks(kb: KnowledgeBase) -> None:
    result = walk(kb, {"duration": "short"}).result

    assert [b.id for b in result.advice] == ["stretch", "pacing", "safety_net"]
    assert result.advice_codes == ("call_emergency", "pace_and_training", "stretch_or_massage")


def test_result_names_red_flags_answered_not_sure(kb: KnowledgeBase) -> None:
    result = walk(kb, {"pain": UNKNOWN, "duration": UNKNOWN}).result

    assert result.unsure == ("pain",)


_REAL_KB = real_kb()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=fact_sets(_REAL_KB))
def test_triage_level_is_the_level_of_triage_on_any_facts(facts: dict[str, str]) -> None:
    """The per-press shortcut (most urgent rule first) never disagrees with the full triage."""
    assert triage_level(_REAL_KB, facts) == triage(_REAL_KB, facts)[0]


def test_the_rules_a_rule_reads_are_those_of_its_condition() -> None:
    for rule in _REAL_KB.rules:
        assert _REAL_KB.rule_reads[rule.id] == findings_in(rule.when, _REAL_KB.patterns)
    levels = [Level.from_code(rule.level) for rule in _REAL_KB.rules_by_urgency]
    assert levels == sorted(levels, reverse=True)
    assert sorted(r.id for r in _REAL_KB.rules_by_urgency) == sorted(r.id for r in _REAL_KB.rules)
