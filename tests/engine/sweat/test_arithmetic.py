"""/sweat's arithmetic: hand-calculated plans, refusals, rendering and safety properties.

Constants from knowledge/sweat.yaml used in the hand calculations below:
replacement fraction 0.8, fraction after a small gain 0.5, ceiling 0.8 L/h (hard cap 1.0),
loss warning above 2 %, no plan at a gain of 1 % or more, implausible above a 6 % loss or
a 3 % gain or a 4 L/h sweat rate, sodium advice for salty sweaters from 1 h.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.engine.errors import EngineError, KnowledgeBaseError
from bot.engine.kb.loader import load_sweat_config
from bot.engine.sweat.arithmetic import SweatPlan, compute_plan
from bot.engine.sweat.config import (
    REQUIRED_TEXTS,
    SweatConfig,
    SweatError,
    SweatInput,
    parse_number,
)
from bot.render.sweat import render_error, render_plan
from tests.shared import REPO

SWEAT_YAML = REPO / "knowledge" / "sweat.yaml"
LANGUAGES = ("en", "nb")
TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def config() -> SweatConfig:
    return load_sweat_config(SWEAT_YAML)


def weigh(
    before: float, after: float, fluid: float, hours: float, urine: float = 0.0, **flags: bool
) -> SweatInput:
    return SweatInput(
        weight_before_kg=before,
        weight_after_kg=after,
        fluid_l=fluid,
        duration_h=hours,
        urine_l=urine,
        **flags,
    )


def raw_yaml() -> dict[str, Any]:
    data = yaml.safe_load(SWEAT_YAML.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# ------------------------------------------------------- hand calculations --
def test_two_percent_loss_is_within_the_aim_and_plan_stops_at_ceiling(
    config: SweatConfig,
) -> None:
    # 70.0 -> 68.6 kg, 1.0 L drunk, 2 h, no urine.
    # loss = (70.0 - 68.6) + 1.0 - 0 = 1.4 + 1.0 = 2.4 L; rate = 2.4 / 2 = 1.2 L/h
    # change = (68.6 - 70.0) / 70.0 * 100 = -2.0 %: exactly the limit, so "ok", not "over".
    # plan = min(1.2 * 0.8 = 0.96, ceiling 0.8, rate 1.2) = 0.8 L/h (capped)
    # per 15 min = 0.8 * 1000 / 4 = 200 mL; total = 0.8 * 2 = 1.6 L.
    plan = compute_plan(config, weigh(70.0, 68.6, 1.0, 2.0))
    assert plan.sweat_loss_l == pytest.approx(2.4)
    assert plan.sweat_rate_l_per_h == pytest.approx(1.2)
    assert plan.percent_body_weight_change == pytest.approx(-2.0)
    assert plan.status == "ok"
    assert plan.planned_l_per_h == pytest.approx(0.8)
    assert plan.is_capped
    assert plan.planned_ml_per_15_min == pytest.approx(200.0)
    assert plan.planned_total_l == pytest.approx(1.6)
    english = render_plan(config, plan, "en")
    for shown in ("2.4 L", "1.2 L per hour", "2.0%", "0.8 L per hour", "200 mL", "1.6 L"):
        assert shown in english
    norwegian = render_plan(config, plan, "nb")
    for shown in ("2,4 l", "1,2 liter i timen", "2,0 %", "0,8 liter i timen", "200 ml", "2 t"):
        assert shown in norwegian


def test_moderate_sweater_gets_eighty_percent_of_the_sweat_rate(config: SweatConfig) -> None:
    # 80.0 -> 79.4 kg, 0.3 L drunk, 1.5 h, 0.1 L urine.
    # loss = 0.6 + 0.3 - 0.1 = 0.8 L; rate = 0.8 / 1.5 = 0.5333 L/h
    # change = -0.6 / 80 * 100 = -0.75 % -> ok
    # plan = 0.5333 * 0.8 = 0.42667 L/h (under the 0.8 ceiling)
    # per 15 min = 426.67 / 4 = 106.67 mL -> shown 110 mL; total = 0.42667 * 1.5 = 0.64 L -> 0.6
    plan = compute_plan(config, weigh(80.0, 79.4, 0.3, 1.5, urine=0.1))
    assert plan.sweat_loss_l == pytest.approx(0.8)
    assert plan.sweat_rate_l_per_h == pytest.approx(0.8 / 1.5)
    assert plan.percent_body_weight_change == pytest.approx(-0.75)
    assert plan.status == "ok"
    assert plan.planned_l_per_h == pytest.approx(0.8 / 1.5 * 0.8)
    assert not plan.is_capped
    assert plan.planned_ml_per_15_min == pytest.approx(106.6667, abs=1e-3)
    assert plan.planned_total_l == pytest.approx(0.64)
    english = render_plan(config, plan, "en")
    for shown in ("0.8 L in 1 h 30 min", "0.53 L per hour", "0.8%", "0.43 L per hour", "110 mL"):
        assert shown in english
    assert "0,43 liter i timen" in render_plan(config, plan, "nb")


def test_loss_over_two_percent_is_flagged_and_planned_below_losses(
    config: SweatConfig,
) -> None:
    # 50.0 -> 48.8 kg, 0.2 L drunk, 2.5 h, no urine.
    # loss = 1.2 + 0.2 = 1.4 L; rate = 1.4 / 2.5 = 0.56 L/h; change = -1.2 / 50 * 100 = -2.4 %
    # plan = 0.56 * 0.8 = 0.448 L/h; per 15 min = 112 mL -> 110 mL; total = 1.12 L -> 1.1 L
    plan = compute_plan(config, weigh(50.0, 48.8, 0.2, 2.5))
    assert plan.status == "over_2_percent"
    assert plan.sweat_rate_l_per_h == pytest.approx(0.56)
    assert plan.percent_body_weight_change == pytest.approx(-2.4)
    assert plan.planned_l_per_h == pytest.approx(0.448)
    assert plan.planned_ml_per_15_min == pytest.approx(112.0)
    text = render_plan(config, plan, "en")
    assert "more than the recommended maximum" in text
    assert "110 mL" in text
    assert "1.1 L in 2 h 30 min" in text


def test_heavy_sweater_over_two_percent_is_capped_at_the_ceiling(config: SweatConfig) -> None:
    # 60.0 -> 58.5 kg, 0.5 L drunk, 1.5 h, 0.2 L urine.
    # loss = 1.5 + 0.5 - 0.2 = 1.8 L; rate = 1.2 L/h; change = -1.5 / 60 * 100 = -2.5 %
    # plan = min(1.2 * 0.8 = 0.96, 0.8) = 0.8 L/h
    plan = compute_plan(config, weigh(60.0, 58.5, 0.5, 1.5, urine=0.2))
    assert plan.status == "over_2_percent"
    assert plan.sweat_loss_l == pytest.approx(1.8)
    assert plan.planned_l_per_h == pytest.approx(0.8)
    assert plan.is_capped


def test_small_gain_warns_of_overdrinking_and_plans_half_the_losses(
    config: SweatConfig,
) -> None:
    # 70.0 -> 70.35 kg, 1.6 L drunk, 2 h, 0.25 L urine.
    # loss = -0.35 + 1.6 - 0.25 = 1.0 L; rate = 0.5 L/h; change = +0.35 / 70 * 100 = +0.5 %
    # gained -> fraction 0.5: plan = 0.25 L/h, far below the 0.8 L/h (1.6 L / 2 h) drunk
    # per 15 min = 62.5 mL -> shown 60 mL; total = 0.5 L
    plan = compute_plan(config, weigh(70.0, 70.35, 1.6, 2.0, urine=0.25))
    assert plan.status == "gained"
    assert plan.percent_body_weight_change == pytest.approx(0.5)
    assert plan.replacement_fraction == 0.5
    assert plan.planned_l_per_h == pytest.approx(0.25)
    assert plan.planned_ml_per_15_min == pytest.approx(62.5)
    for language, warning in (("en", "hyponatremia"), ("nb", "hyponatremi")):
        text = render_plan(config, plan, language)
        assert warning in text
    assert "60 mL" in render_plan(config, plan, "en")


@pytest.mark.parametrize(
    ("after", "fluid"),
    [
        (60.6, 1.5),  # gain 0.6 / 60 = exactly 1.0 %: loss = -0.6 + 1.5 = 0.9 L
        (60.9, 2.0),  # gain 0.9 / 60 = 1.5 %: loss = -0.9 + 2.0 = 1.1 L
        (61.8, 3.0),  # gain 1.8 / 60 = 3.0 %, the most accepted: loss = 1.2 L
    ],
)
def test_gain_of_one_percent_or_more_gives_no_volume_at_all(
    config: SweatConfig, after: float, fluid: float
) -> None:
    plan = compute_plan(config, weigh(60.0, after, fluid, 2.0))
    assert plan.status == "gained"
    assert plan.planned_l_per_h is None
    assert plan.planned_ml_per_15_min is None
    assert "no amount to drink" in render_plan(config, plan, "en")
    assert "ingen mengde å drikke" in render_plan(config, plan, "nb")


def test_unchanged_weight_is_fine_and_plans_from_what_was_drunk(config: SweatConfig) -> None:
    # 70 -> 70 kg, 0.5 L drunk, 1 h: loss = 0 + 0.5 = 0.5 L; rate 0.5 L/h; change 0 % -> ok
    # plan = 0.5 * 0.8 = 0.4 L/h -> 100 mL per 15 min
    plan = compute_plan(config, weigh(70.0, 70.0, 0.5, 1.0))
    assert plan.status == "ok"
    assert plan.planned_l_per_h == pytest.approx(0.4)
    assert plan.planned_ml_per_15_min == pytest.approx(100.0)
    assert "did not change" in render_plan(config, plan, "en")


def test_no_measurable_sweat_gives_drink_to_thirst_and_no_amount(config: SweatConfig) -> None:
    # 70 -> 70 kg, nothing drunk, 1 h: loss 0 L, rate 0, plan 0 -> "no set amount"
    plan = compute_plan(config, weigh(70.0, 70.0, 0.0, 1.0))
    assert plan.sweat_loss_l == 0
    assert plan.planned_l_per_h == 0
    assert "no set amount" in render_plan(config, plan, "en")
    assert "ingen fast mengde" in render_plan(config, plan, "nb")


@pytest.mark.parametrize(
    ("hours", "salty", "restricted", "expected"),
    [
        (1.0, True, False, True),  # salty, exactly 1 h
        (3.0, True, False, True),
        (0.5, True, False, False),  # too short
        (3.0, False, False, False),  # not a salty sweater
        (3.0, True, True, False),  # heart or kidney: never salt advice
    ],
)
def test_sodium_advice_only_for_salty_sweaters_in_sessions_of_an_hour_or_more(
    config: SweatConfig, hours: float, salty: bool, restricted: bool, expected: bool
) -> None:
    data = weigh(70.0, 69.5, 0.5, hours, salty_sweater=salty, fluid_restricted=restricted)
    plan = compute_plan(config, data)
    assert plan.has_sodium_advice is expected
    assert ("sports drink" in render_plan(config, plan, "en")) is expected
    assert ("sportsdrikk" in render_plan(config, plan, "nb")) is expected


def test_heart_or_kidney_condition_gives_only_the_contraindication(
    config: SweatConfig,
) -> None:
    plan = compute_plan(
        config, weigh(70.0, 68.6, 1.0, 2.0, salty_sweater=True, fluid_restricted=True)
    )
    assert plan.is_restricted
    assert plan.planned_l_per_h is None
    assert plan.planned_total_l is None
    assert plan.replacement_fraction is None
    assert not plan.has_sodium_advice
    for language in LANGUAGES:
        text = render_plan(config, plan, language)
        assert config.text("contraindication", language) in text
        assert not re.search(r"\d", text), "no numbers at all for a fluid-restricted user"


# ------------------------------------------------------------- refusals --
@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({"before": -70.0}, "weight_range", "weight_before_kg"),  # negative
        ({"after": 0.0}, "weight_range", "weight_after_kg"),  # zero
        ({"before": 20.0, "after": 20.0}, "weight_range", "weight_before_kg"),  # under 25 kg
        ({"before": 260.0, "after": 258.0}, "weight_range", "weight_before_kg"),  # over 250 kg
        ({"fluid": -0.5}, "fluid_range", "fluid_l"),
        ({"fluid": 16.0}, "fluid_range", "fluid_l"),  # over 15 L
        ({"hours": 0.0}, "duration_range", "duration_h"),  # zero duration
        ({"hours": -1.0}, "duration_range", "duration_h"),
        ({"hours": 5 / 60}, "duration_range", "duration_h"),  # 5 minutes < 10
        ({"hours": 25.0}, "duration_range", "duration_h"),  # over 24 h
        ({"urine": -0.1}, "urine_range", "urine_l"),
        ({"urine": 11.0}, "urine_range", "urine_l"),
        ({"before": math.nan}, "not_a_number", "weight_before_kg"),
        ({"fluid": math.inf}, "not_a_number", "fluid_l"),
    ],
)
def test_impossible_numbers_are_refused_with_a_specific_code(
    config: SweatConfig, data: dict[str, float], code: str, field: str
) -> None:
    values = {"before": 70.0, "after": 69.0, "fluid": 1.0, "hours": 1.0, "urine": 0.0} | data
    weighing = [values[name] for name in ("before", "after", "fluid", "hours", "urine")]
    with pytest.raises(SweatError) as caught:
        compute_plan(config, weigh(*weighing))
    assert (caught.value.code, caught.value.field) == (code, field)
    assert isinstance(caught.value, EngineError)


@pytest.mark.parametrize(
    ("before", "after", "fluid", "hours", "urine", "code", "key"),
    [
        # after > before by 10 kg: +10 / 70 = +14.3 % > 3 %
        (70.0, 80.0, 1.0, 1.0, 0.0, "implausible_change", "error_implausible_gain"),
        # 70 -> 65: -5 / 70 = -7.1 % > 6 %
        (70.0, 65.0, 1.0, 2.0, 0.0, "implausible_change", "error_implausible_loss"),
        # 70 -> 70.5 with 0.2 L: loss = -0.5 + 0.2 = -0.3 L < 0
        (70.0, 70.5, 0.2, 1.0, 0.0, "negative_sweat_loss", "error_negative_sweat_loss"),
        # 70 -> 69 with 1 L drunk and 3 L urine: loss = 1 + 1 - 3 = -1 L
        (70.0, 69.0, 1.0, 1.0, 3.0, "negative_sweat_loss", "error_negative_sweat_loss"),
        # 100 -> 95 (5 %), 5 L in 1 h: loss = 5 + 5 = 10 L/h > 4 L/h
        (100.0, 95.0, 5.0, 1.0, 0.0, "implausible_rate", "error_implausible_rate"),
    ],
)
def test_implausible_balances_ask_to_recheck(
    config: SweatConfig,
    before: float,
    after: float,
    fluid: float,
    hours: float,
    urine: float,
    code: str,
    key: str,
) -> None:
    with pytest.raises(SweatError) as caught:
        compute_plan(config, weigh(before, after, fluid, hours, urine))
    assert (caught.value.code, caught.value.key) == (code, key)


@pytest.mark.parametrize(
    ("before", "after", "fluid", "hours"),
    [
        (50.0, 47.0, 0.0, 2.0),  # exactly 6 % loss; 3 L in 2 h = 1.5 L/h
        (50.0, 51.5, 2.0, 1.0),  # exactly 3 % gain; loss = -1.5 + 2 = 0.5 L
        (25.0, 25.0, 0.1, 10 / 60),  # lightest weight, shortest session
        (250.0, 250.0, 15.0, 24.0),  # heaviest weight, most fluid, longest session
    ],
)
def test_limits_themselves_are_accepted(
    config: SweatConfig, before: float, after: float, fluid: float, hours: float
) -> None:
    assert isinstance(compute_plan(config, weigh(before, after, fluid, hours)), SweatPlan)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (SweatError("weight_range", field="weight_after_kg"), ("25", "250")),
        (SweatError("duration_range", field="duration_h"), ("10", "24")),
        (SweatError("fluid_range", field="fluid_l"), ("0", "15")),
        (SweatError("urine_range", field="urine_l"), ("0", "10")),
        (SweatError("implausible_change", "error_implausible_loss", percent=-7.14), ("7", "6")),
        (SweatError("implausible_change", "error_implausible_gain", percent=14.29), ("14", "3")),
        (SweatError("implausible_rate", rate=10.0), ("10", "4")),
        (SweatError("negative_sweat_loss"), ()),
        (SweatError("not_a_number"), ()),
    ],
)
def test_every_error_renders_with_its_limits(
    config: SweatConfig, error: SweatError, expected: tuple[str, ...], language: str
) -> None:
    text = render_error(config, error, language)
    assert text
    assert "{" not in text
    assert "}" not in text
    for number in expected:
        assert number in text


def test_error_message_carries_code_not_health_numbers() -> None:
    error = SweatError("implausible_change", "error_implausible_gain", percent=14.2857)
    assert "14" not in str(error)
    assert "implausible_change" in str(error)


@pytest.mark.parametrize(("text", "value"), [("70,5", 70.5), (" 1.25 ", 1.25), ("0", 0.0)])
def test_parse_number_accepts_decimal_comma_and_point(text: str, value: float) -> None:
    assert parse_number(text) == value


@pytest.mark.parametrize("text", ["", "abc", "70 kg", "nan", "inf", "1,2,3"])
def test_parse_number_refuses_anything_else(text: str) -> None:
    with pytest.raises(SweatError) as caught:
        parse_number(text)
    assert caught.value.code == "not_a_number"


# ------------------------------------------------------------ the config --
def test_every_text_and_question_has_english_and_bokmal() -> None:
    data = raw_yaml()
    assert set(data["texts"]) >= REQUIRED_TEXTS
    texts = [*data["texts"].values()]
    texts += [q["text"] for q in data["questions"]]
    texts += [q["help"] for q in data["questions"] if "help" in q]
    for text in texts:
        assert set(text) == set(LANGUAGES)
        assert all(isinstance(text[lang], str) and text[lang].strip() for lang in LANGUAGES)


def test_config_cites_its_sources_and_never_recommends_over_a_litre_an_hour(
    config: SweatConfig,
) -> None:
    assert {"acsm_2007", "hew_butler_2015", "wms_eah_2019"} <= {s.id for s in config.sources}
    assert config.plan.ceiling_l_per_h <= config.plan.absolute_max_l_per_h <= 1.0
    assert 0 < config.plan.gain_replacement_fraction < config.plan.replacement_fraction <= 1


def test_heart_and_kidney_question_comes_first(config: SweatConfig) -> None:
    assert config.questions[0].field == "fluid_restricted"
    assert {q.field for q in config.questions if q.optional} == {"urine_l"}


def test_no_text_suggests_salt_tablets_or_brine() -> None:
    words = re.compile(r"tablet|pickle|brine|sylteagurk|saltlake|salttablett", re.IGNORECASE)
    for text in raw_yaml()["texts"].values():
        for language in LANGUAGES:
            assert not words.search(text[language])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["plan"].update(ceiling_l_per_h=1.2), "absolute_max"),
        (lambda d: d["plan"].update(absolute_max_l_per_h=1.5), "less than or equal to 1"),
        (lambda d: d["texts"]["title"].pop("nb"), "no text in nb"),
        (lambda d: d["texts"].pop("safety_note"), "safety_note"),
        (lambda d: d["texts"]["status_ok"].update(nb="{percent}"), "placeholders"),
        (lambda d: d["questions"].pop(), "every SweatInput field"),
    ],
)
def test_unsafe_or_incomplete_config_is_refused(change: Any, message: str) -> None:
    data = raw_yaml()
    change(data)
    with pytest.raises(ValidationError, match=message):
        SweatConfig.model_validate(data)


def test_broken_config_file_raises_knowledge_base_error(tmp_path: Path) -> None:
    broken = tmp_path / "sweat.yaml"
    broken.write_text("version: [", encoding="utf-8")
    with pytest.raises(KnowledgeBaseError):
        load_sweat_config(broken)
    with pytest.raises(KnowledgeBaseError):
        load_sweat_config(tmp_path / "missing.yaml")


def test_default_path_loads_the_real_config() -> None:
    assert load_sweat_config().version == load_sweat_config(SWEAT_YAML).version


# ------------------------------------------------------------- properties --
@st.composite
def weigh_ins(draw: st.DrawFn) -> SweatInput:
    """Valid weigh-ins, drawn from the sweat side so that nearly every draw is plausible."""
    before = draw(st.floats(25, 250))
    after = before * (1 + draw(st.floats(-6, 3)) / 100)
    hours = draw(st.floats(10 / 60, 24))
    urine = draw(st.floats(0, 2))
    # fluid = loss - (before - after) + urine must stay within 0..15 L; rate within 4 L/h.
    lowest = max(0.0, before - after - urine)
    highest = min(4 * hours, 15 + before - after - urine)
    assume(lowest < highest)
    loss = draw(st.floats(lowest, highest))
    fluid = min(max(loss - (before - after) + urine, 0.0), 15.0)
    return weigh(before, after, fluid, hours, urine, salty_sweater=draw(st.booleans()))


def plan_or_none(config: SweatConfig, data: SweatInput) -> SweatPlan | None:
    try:
        return compute_plan(config, data)
    except SweatError:
        return None  # edges the construction could not keep plausible


@settings(max_examples=300, deadline=None)
@given(data=weigh_ins())
def test_plan_never_exceeds_the_sweat_rate_nor_the_ceiling(
    config: SweatConfig, data: SweatInput
) -> None:
    plan = plan_or_none(config, data)
    if plan is None or plan.planned_l_per_h is None:
        return
    assert 0 <= plan.planned_l_per_h <= plan.sweat_rate_l_per_h + TOLERANCE
    assert plan.planned_l_per_h <= config.plan.ceiling_l_per_h + TOLERANCE
    assert plan.planned_l_per_h <= 1.0
    assert (plan.planned_total_l or 0.0) <= plan.sweat_loss_l + TOLERANCE


@settings(max_examples=300, deadline=None)
@given(data=weigh_ins())
def test_after_a_gain_the_plan_is_half_the_losses_at_most_and_none_from_one_percent(
    config: SweatConfig, data: SweatInput
) -> None:
    """Decision: any gain warns; under 1 % plans at most half the losses; 1 % or more, nothing."""
    plan = plan_or_none(config, data)
    if plan is None or plan.status != "gained":
        return
    assert "hyponatremia" in render_plan(config, plan, "en")
    if plan.percent_body_weight_change >= config.thresholds.no_plan_gain_percent:
        assert plan.planned_l_per_h is None
    elif plan.planned_l_per_h is not None:
        limit = plan.sweat_rate_l_per_h * config.plan.gain_replacement_fraction
        assert plan.planned_l_per_h <= limit + TOLERANCE


@settings(max_examples=200, deadline=None)
@given(data=weigh_ins())
def test_every_plan_renders_completely_in_both_languages(
    config: SweatConfig, data: SweatInput
) -> None:
    plan = plan_or_none(config, data)
    if plan is None:
        return
    for language in LANGUAGES:
        text = render_plan(config, plan, language)
        assert config.text("safety_note", language) in text
        assert not re.search(r"[{}]|\bNone\b|\bnan\b|\binf\b", text)


@settings(max_examples=100, deadline=None)
@given(data=weigh_ins())
def test_fluid_restricted_never_gets_a_number(config: SweatConfig, data: SweatInput) -> None:
    restricted = data.model_copy(update={"fluid_restricted": True})
    plan = plan_or_none(config, restricted)
    if plan is None:
        return
    assert plan.planned_l_per_h is None
    assert not plan.has_sodium_advice
    for language in LANGUAGES:
        assert not re.search(r"\d", render_plan(config, plan, language))


any_number = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(before=any_number, after=any_number, fluid=any_number, hours=any_number, urine=any_number)
def test_any_numbers_give_a_plan_or_a_sweat_error(
    config: SweatConfig, before: float, after: float, fluid: float, hours: float, urine: float
) -> None:
    outcome: SweatPlan | str
    try:
        outcome = compute_plan(config, weigh(before, after, fluid, hours, urine))
    except SweatError as error:
        outcome = render_error(config, error, "nb")
    if isinstance(outcome, SweatPlan):
        planned = outcome.planned_l_per_h
        assert planned is None or planned <= outcome.sweat_rate_l_per_h
    else:
        assert outcome
