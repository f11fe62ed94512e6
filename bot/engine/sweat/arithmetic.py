"""/sweat's arithmetic: sweat rate from a weigh-in, and a plan capped below it.

The formula (ACSM 2007; NATA 2017), 1 kg taken as 1 L, with every limit and constant from
`knowledge/sweat.yaml` (see `config.py`):

    sweat_loss_l    = (weight_before - weight_after) + fluid - urine
    sweat_rate      = sweat_loss_l / duration_h
    planned_l_per_h = min(sweat_rate * fraction, ceiling, sweat_rate)

`SweatPlan` keeps exact floats; only `text.py` rounds.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bot.engine.primitives import Frozen
from bot.engine.sweat.config import INPUT_NUMBERS, SweatConfig, SweatError, SweatInput

MINUTES_PER_DRINK = 15
"""The plan is also given per 15 minutes: small, regular drinks rather than a bottle at once."""
_EPSILON = 1e-9
"""Float slack at limits, so that 70.0 -> 68.6 kg is exactly 2.0 %, not 2.0000000000000018 %."""

Status = Literal["gained", "ok", "over_2_percent"]


class SweatPlan(Frozen):
    """The measured balance and, unless withheld, the plan; exact floats, never rounded."""

    input: SweatInput
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


def _balance(data: SweatInput) -> tuple[float, float, float]:
    """Return (percent body-weight change, sweat loss in L, sweat rate in L/h)."""
    change = data.weight_after_kg - data.weight_before_kg
    loss = -change + data.fluid_l - data.urine_l
    return change / data.weight_before_kg * 100, loss, loss / data.duration_h


def validate_input(config: SweatConfig, data: SweatInput) -> None:
    """Raise SweatError when a number is out of range or the balance is implausible."""
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
            raise SweatError(INPUT_NUMBERS[field][0], field=field)
    percent, loss, rate = _balance(data)
    if -percent > limits.max_loss_percent + _EPSILON:
        raise SweatError("implausible_change", "error_implausible_loss", percent=percent)
    if percent > limits.max_gain_percent + _EPSILON:
        raise SweatError("implausible_change", "error_implausible_gain", percent=percent)
    if loss < -_EPSILON:
        raise SweatError("negative_sweat_loss")
    if rate > limits.max_sweat_rate_l_per_h + _EPSILON:
        raise SweatError("implausible_rate", rate=rate)


def compute_plan(config: SweatConfig, data: SweatInput) -> SweatPlan:
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
    config: SweatConfig, status: Status, percent: float, rate: float
) -> tuple[float | None, float | None]:
    """Return (fraction, planned L/h); (None, None) when the gain is too big for any plan."""
    if status == "gained" and percent >= config.thresholds.no_plan_gain_percent - _EPSILON:
        return None, None
    rules = config.plan
    fraction = (
        rules.gain_replacement_fraction if status == "gained" else rules.replacement_fraction
    )
    return fraction, min(rate * fraction, rules.ceiling_l_per_h, rate)
