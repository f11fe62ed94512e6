"""The drinking planner (/sweat): sweat rate from a weigh-in, and a drinking plan capped below it.

Owns the planner's models (config, input, plan), its arithmetic and its plain-text rendering.
Every limit, constant and word lives in `knowledge/planner.yaml` (sources cited there);
`load_planner_config` is the only I/O. The formula (ACSM 2007; NATA 2017), 1 kg taken as 1 L:

    sweat_loss_l    = (weight_before - weight_after) + fluid - urine
    sweat_rate      = sweat_loss_l / duration_h
    planned_l_per_h = min(sweat_rate * fraction, ceiling, sweat_rate)

Models keep exact floats; only rendering rounds (0.1 kg, 0.1 L, 0.01 L/h, 10 mL, 0.1 %).
"""

from __future__ import annotations

import math
import string
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from bot.engine.errors import EngineError, KnowledgeBaseError
from bot.engine.loader import default_knowledge_dir
from bot.engine.models import Frozen, Slug, Text, localize

PLANNER_FILE = "planner.yaml"
MINUTES_PER_DRINK = 15
"""The plan is also given per 15 minutes: small, regular drinks rather than a bottle at once."""
_EPSILON = 1e-9
"""Float slack at limits, so that 70.0 -> 68.6 kg is exactly 2.0 %, not 2.0000000000000018 %."""

Status = Literal["gained", "ok", "over_2_percent"]
REQUIRED_TEXTS = frozenset(
    """answer_yes answer_no answer_skip decimal_separator unit_kg unit_l unit_ml unit_l_per_h
    unit_percent duration_hours_minutes duration_hours duration_minutes title result_measured
    status_ok status_unchanged status_over_2_percent warning_overdrinking plan_rate plan_basis
    plan_basis_gained plan_capped plan_none_gained plan_none_needed thirst_guidance
    sodium_advice contraindication safety_note error_not_a_number error_weight_range
    error_duration_range error_fluid_range error_urine_range error_implausible_loss
    error_implausible_gain error_negative_sweat_loss error_implausible_rate""".split()  # noqa: SIM905 -- a word list reads better than 37 quoted lines
)


class PlannerError(EngineError):
    """Input the planner refuses; `code` is stable, `key` names the text that explains it.

    The message holds only the code and field: the numbers are health data, kept in `values`.
    """

    def __init__(self, code: str, key: str = "", *, field: str = "", **values: float) -> None:
        super().__init__(f"planner input refused: {code}" + (f" ({field})" if field else ""))
        self.code = code
        self.key = key or f"error_{code}"
        self.field = field
        self.values = values


# -------------------------------------------------------------------- config --
class Range(Frozen):
    min: float
    max: float

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class Limits(Frozen):
    weight_kg: Range
    duration_min: Range
    fluid_l: Range
    urine_l: Range
    max_loss_percent: float = Field(gt=0)
    max_gain_percent: float = Field(gt=0)
    max_sweat_rate_l_per_h: float = Field(gt=0)


class Thresholds(Frozen):
    loss_warning_percent: float = Field(gt=0)
    no_plan_gain_percent: float = Field(gt=0)


class PlanRules(Frozen):
    replacement_fraction: float = Field(gt=0, le=1)
    gain_replacement_fraction: float = Field(gt=0, le=1)
    ceiling_l_per_h: float = Field(gt=0)
    absolute_max_l_per_h: float = Field(gt=0, le=1.0)
    """Never recommend above about 1 L/h, whatever the file says (see planner.yaml)."""
    sodium_min_duration_h: float = Field(ge=0)

    @model_validator(mode="after")
    def _safe(self) -> PlanRules:
        if self.ceiling_l_per_h > self.absolute_max_l_per_h:
            raise ValueError("ceiling_l_per_h must not exceed absolute_max_l_per_h")
        if self.gain_replacement_fraction > self.replacement_fraction:
            raise ValueError("gain_replacement_fraction must not exceed replacement_fraction")
        return self


class Source(Frozen):
    id: Slug
    cite: str = Field(min_length=1)
    url: str = Field(min_length=1)


class PlannerQuestion(Frozen):
    field: str
    """The PlannerInput field the answer fills."""
    kind: Literal["number", "yes_no"]
    optional: bool = False
    text: Text
    help: Text | None = None


class PlannerConfig(Frozen):
    """Everything in planner.yaml: limits, constants, questions and texts in every language."""

    version: str = Field(min_length=1)
    languages: tuple[str, ...] = Field(min_length=1)
    sources: tuple[Source, ...] = Field(min_length=1)
    limits: Limits
    thresholds: Thresholds
    plan: PlanRules
    questions: tuple[PlannerQuestion, ...]
    texts: dict[Slug, Text]

    @model_validator(mode="after")
    def _complete(self) -> PlannerConfig:
        if missing := sorted(REQUIRED_TEXTS - self.texts.keys()):
            raise ValueError(f"texts missing: {', '.join(missing)}")
        if sorted(q.field for q in self.questions) != sorted(PlannerInput.model_fields):
            raise ValueError("questions must fill every PlannerInput field exactly once")
        named = {f"texts.{key}": text for key, text in self.texts.items()}
        for q in self.questions:
            named[f"questions.{q.field}.text"] = q.text
            if q.help is not None:
                named[f"questions.{q.field}.help"] = q.help
        for name, text in named.items():
            _check_languages(name, text, self.languages)
        return self

    def text(self, key: str, language: str, **values: str) -> str:
        """Return text `key` in `language` with its placeholders filled."""
        return localize(self.texts[key], language).format(**values)


def _check_languages(name: str, text: Text, languages: tuple[str, ...]) -> None:
    if missing := [lang for lang in languages if not text.get(lang, "").strip()]:
        raise ValueError(f"{name}: no text in {', '.join(missing)}")
    fields = {lang: _placeholders(text[lang]) for lang in languages}
    if len({frozenset(names) for names in fields.values()}) > 1:
        raise ValueError(f"{name}: languages use different placeholders {fields}")


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def load_planner_config(path: Path | None = None) -> PlannerConfig:
    """Read and validate planner.yaml (default: the knowledge directory's); the only I/O."""
    file = path or default_knowledge_dir() / PLANNER_FILE
    try:
        config = PlannerConfig.model_validate(yaml.safe_load(file.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise KnowledgeBaseError(f"{file}: {error}") from error
    return config


# --------------------------------------------------------------- input, plan --
class PlannerInput(Frozen):
    """One weigh-in; refuses what no configuration could accept (see `validate_input`)."""

    weight_before_kg: float
    weight_after_kg: float
    fluid_l: float
    duration_h: float
    urine_l: float = 0.0
    salty_sweater: bool = False
    fluid_restricted: bool = False

    @model_validator(mode="after")
    def _possible(self) -> PlannerInput:
        # PlannerError is not a ValueError, so pydantic lets it through unwrapped.
        for field, (code, is_zero_possible) in _NUMBERS.items():
            value = getattr(self, field)
            if not math.isfinite(value):
                raise PlannerError("not_a_number", field=field)
            if value < 0 or (value == 0 and not is_zero_possible):
                raise PlannerError(code, field=field)
        return self


_NUMBERS = {  # field: (error code, whether zero is possible)
    "weight_before_kg": ("weight_range", False),
    "weight_after_kg": ("weight_range", False),
    "fluid_l": ("fluid_range", True),
    "duration_h": ("duration_range", False),
    "urine_l": ("urine_range", True),
}


class SweatPlan(Frozen):
    """The measured balance and, unless withheld, the plan; exact floats, never rounded."""

    input: PlannerInput
    weight_change_kg: float
    percent_body_weight_change: float
    sweat_loss_l: float
    sweat_rate_l_per_h: float
    status: Status
    is_restricted: bool
    replacement_fraction: float | None
    """The fraction of the sweat rate planned; None when no plan is given."""
    planned_l_per_h: float | None
    is_capped: bool
    """The hourly ceiling, not the fraction, set the plan."""
    has_sodium_advice: bool

    @model_validator(mode="after")
    def _never_above_losses(self) -> SweatPlan:
        planned = self.planned_l_per_h
        if planned is not None and not 0 <= planned <= self.sweat_rate_l_per_h:
            raise ValueError(f"planned {planned} L/h is outside 0..sweat rate")
        return self

    @property
    def planned_ml_per_15_min(self) -> float | None:
        rate = self.planned_l_per_h
        return None if rate is None else rate * 1000 * MINUTES_PER_DRINK / 60

    @property
    def planned_total_l(self) -> float | None:
        rate = self.planned_l_per_h
        return None if rate is None else rate * self.input.duration_h


def parse_number(text: str) -> float:
    """Read a number typed in chat, accepting a decimal comma ("70,5") as well as a point."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise PlannerError("not_a_number") from None
    if not math.isfinite(value):
        raise PlannerError("not_a_number")
    return value


def _balance(data: PlannerInput) -> tuple[float, float, float]:
    """Return (percent body-weight change, sweat loss in L, sweat rate in L/h)."""
    change = data.weight_after_kg - data.weight_before_kg
    loss = -change + data.fluid_l - data.urine_l
    return change / data.weight_before_kg * 100, loss, loss / data.duration_h


def validate_input(config: PlannerConfig, data: PlannerInput) -> None:
    """Raise PlannerError when a number is out of range or the balance is implausible."""
    limits = config.limits
    checks = (
        ("weight_before_kg", data.weight_before_kg, limits.weight_kg),
        ("weight_after_kg", data.weight_after_kg, limits.weight_kg),
        ("fluid_l", data.fluid_l, limits.fluid_l),
        ("duration_h", data.duration_h * 60, limits.duration_min),  # the limit is in minutes
        ("urine_l", data.urine_l, limits.urine_l),
    )
    for field, value, bounds in checks:
        if not bounds.min - _EPSILON <= value <= bounds.max + _EPSILON:
            raise PlannerError(_NUMBERS[field][0], field=field)
    percent, loss, rate = _balance(data)
    if -percent > limits.max_loss_percent + _EPSILON:
        raise PlannerError("implausible_change", "error_implausible_loss", percent=percent)
    if percent > limits.max_gain_percent + _EPSILON:
        raise PlannerError("implausible_change", "error_implausible_gain", percent=percent)
    if loss < -_EPSILON:
        raise PlannerError("negative_sweat_loss")
    if rate > limits.max_sweat_rate_l_per_h + _EPSILON:
        raise PlannerError("implausible_rate", rate=rate)


def compute_plan(config: PlannerConfig, data: PlannerInput) -> SweatPlan:
    """Validate the weigh-in and compute the sweat rate, status and drinking plan."""
    validate_input(config, data)
    percent, loss, rate = _balance(data)
    status: Status = "ok"
    if percent > _EPSILON:
        status = "gained"
    elif -percent > config.thresholds.loss_warning_percent + _EPSILON:
        status = "over_2_percent"
    loss, rate = max(loss, 0.0), max(rate, 0.0)  # validate_input let through only float noise
    fraction, planned = (None, None)
    if not data.fluid_restricted:
        fraction, planned = _plan_rate(config, status, percent, rate)
    return SweatPlan(
        input=data,
        weight_change_kg=data.weight_after_kg - data.weight_before_kg,
        percent_body_weight_change=percent,
        sweat_loss_l=loss,
        sweat_rate_l_per_h=rate,
        status=status,
        is_restricted=data.fluid_restricted,
        replacement_fraction=fraction,
        planned_l_per_h=planned,
        is_capped=fraction is not None and rate * fraction > config.plan.ceiling_l_per_h,
        has_sodium_advice=data.salty_sweater
        and not data.fluid_restricted
        and data.duration_h >= config.plan.sodium_min_duration_h - _EPSILON,
    )


def _plan_rate(
    config: PlannerConfig, status: Status, percent: float, rate: float
) -> tuple[float | None, float | None]:
    """Return (fraction, planned L/h); (None, None) when the gain is too big for any plan."""
    if status == "gained" and percent >= config.thresholds.no_plan_gain_percent - _EPSILON:
        return None, None
    rules = config.plan
    fraction = (
        rules.gain_replacement_fraction if status == "gained" else rules.replacement_fraction
    )
    return fraction, min(rate * fraction, rules.ceiling_l_per_h, rate)


# ----------------------------------------------------------------- rendering --
def _round_half_up(value: float, step: str) -> Decimal:
    exact = Decimal(f"{value:.9f}")  # drop float noise first: 2.4499999999 is really 2.45
    return (exact / Decimal(step)).quantize(Decimal(1), rounding=ROUND_HALF_UP) * Decimal(step)


class _Writer:
    """Texts and numbers in one language; numbers as magnitudes (the wording carries the sign)."""

    def __init__(self, config: PlannerConfig, language: str) -> None:
        self.config = config
        self.language = language

    def __call__(self, key: str, **values: str) -> str:
        return self.config.text(key, self.language, **values)

    def number(self, value: float, step: str = "0.1", *, is_trimmed: bool = False) -> str:
        rounded = _round_half_up(abs(value), step)
        shown = format(rounded.normalize() if is_trimmed else rounded, "f")
        return shown.replace(".", self("decimal_separator"))

    def unit(self, key: str, value: float, step: str = "0.1") -> str:
        return self(key, value=self.number(value, step))

    def plain(self, value: float) -> str:
        return self.number(value, "0.001", is_trimmed=True)

    def percent_limit(self, value: float) -> str:
        return self("unit_percent", value=self.plain(value))

    def rate(self, value: float) -> str:
        return self("unit_l_per_h", value=self.number(value, "0.01", is_trimmed=True))

    def duration(self, hours: float) -> str:
        whole, minutes = divmod(int(_round_half_up(hours * 60, "1")), 60)
        if not minutes:
            return self("duration_hours", hours=str(whole))
        if not whole:
            return self("duration_minutes", minutes=str(minutes))
        return self("duration_hours_minutes", hours=str(whole), minutes=str(minutes))


def render_plan(config: PlannerConfig, plan: SweatPlan, language: str) -> str:
    """Render the result as plain text: measurements, status, plan, advice, safety note."""
    say = _Writer(config, language)
    if plan.is_restricted:
        return "\n\n".join((say("contraindication"), say("safety_note")))
    measured = say(
        "result_measured",
        sweat_loss=say.unit("unit_l", plan.sweat_loss_l),
        duration=say.duration(plan.input.duration_h),
        sweat_rate=say.rate(plan.sweat_rate_l_per_h),
    )
    parts = [say("title"), measured, _status_text(say, config, plan)]
    parts += _plan_texts(say, config, plan)
    if plan.has_sodium_advice:
        parts.append(say("sodium_advice"))
    parts.append(say("safety_note"))
    return "\n\n".join(parts)


def _status_text(say: _Writer, config: PlannerConfig, plan: SweatPlan) -> str:
    change = say.unit("unit_kg", plan.weight_change_kg)
    percent = say.unit("unit_percent", plan.percent_body_weight_change)
    limit = say.percent_limit(config.thresholds.loss_warning_percent)
    if plan.status == "gained":
        return say("warning_overdrinking", weight_change=change, percent=percent)
    if plan.status == "over_2_percent":
        return say("status_over_2_percent", weight_change=change, percent=percent, limit=limit)
    if _round_half_up(abs(plan.weight_change_kg), "0.1") == 0:
        return say("status_unchanged", limit=limit)
    return say("status_ok", weight_change=change, percent=percent, limit=limit)


def _plan_texts(say: _Writer, config: PlannerConfig, plan: SweatPlan) -> list[str]:
    if plan.planned_l_per_h is None or plan.replacement_fraction is None:
        return [say("plan_none_gained")]
    per_15_min = plan.planned_ml_per_15_min or 0.0
    if _round_half_up(per_15_min, "10") == 0:
        return [say("plan_none_needed")]
    rate = say(
        "plan_rate",
        planned_rate=say.rate(plan.planned_l_per_h),
        per_15_min=say.unit("unit_ml", per_15_min, "10"),
        planned_total=say.unit("unit_l", plan.planned_total_l or 0.0),
        duration=say.duration(plan.input.duration_h),
    )
    basis = "plan_basis_gained" if plan.status == "gained" else "plan_basis"
    texts = [rate, say(basis, fraction=say.percent_limit(plan.replacement_fraction * 100))]
    if plan.is_capped:
        limit = say.percent_limit(config.thresholds.loss_warning_percent)
        texts.append(
            say("plan_capped", ceiling=say.rate(config.plan.ceiling_l_per_h), limit=limit)
        )
    return [*texts, say("thirst_guidance")]  # the no-plan texts already say "drink to thirst"


def render_error(config: PlannerConfig, error: PlannerError, language: str) -> str:
    """Render a refused input as one plain-text message with the limits filled in."""
    say = _Writer(config, language)
    limits = config.limits
    ranges = {"weight_range": limits.weight_kg, "fluid_range": limits.fluid_l}
    ranges |= {"urine_range": limits.urine_l, "duration_range": limits.duration_min}
    values: dict[str, str] = {}
    if bounds := ranges.get(error.code):
        top = bounds.max / 60 if error.code == "duration_range" else bounds.max  # asked in hours
        values = {"min": say.plain(bounds.min), "max": say.plain(top)}
    elif error.code == "implausible_change":
        is_loss = error.key == "error_implausible_loss"
        limit = limits.max_loss_percent if is_loss else limits.max_gain_percent
        percent = say.unit("unit_percent", error.values.get("percent", 0.0))
        values = {"percent": percent, "limit": say.percent_limit(limit)}
    elif error.code == "implausible_rate":
        rate = say.rate(error.values.get("rate", 0.0))
        values = {"rate": rate, "max": say.rate(limits.max_sweat_rate_l_per_h)}
    return say(error.key, **values)
