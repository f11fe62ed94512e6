"""/sweat's wording: each question, the plan or a refused input, and the button labels.

Every word comes from `knowledge/sweat.yaml`. Numbers are rounded here and only here
(0.1 kg, 0.1 L, 0.01 L/h, 10 mL, 0.1 %), half up, and shown as magnitudes: the wording
carries the sign.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from bot.engine.primitives import localize
from bot.engine.sweat.arithmetic import SweatPlan
from bot.engine.sweat.config import SweatConfig, SweatError
from bot.engine.sweat.flow import Choice, SweatAsk, SweatDone


def _round_half_up(value: float, step: str) -> Decimal:
    exact = Decimal(f"{value:.9f}")  # drop float noise first: 2.4499999999 is really 2.45
    return (exact / Decimal(step)).quantize(Decimal(1), rounding=ROUND_HALF_UP) * Decimal(step)


class _Writer:
    """Texts and numbers in one language; numbers as magnitudes (the wording carries the sign)."""

    def __init__(self, config: SweatConfig, language: str) -> None:
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


def render_plan(config: SweatConfig, plan: SweatPlan, language: str) -> str:
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


def _status_text(say: _Writer, config: SweatConfig, plan: SweatPlan) -> str:
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


def _plan_texts(say: _Writer, config: SweatConfig, plan: SweatPlan) -> list[str]:
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


def render_error(config: SweatConfig, error: SweatError, language: str) -> str:
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


def question_text(config: SweatConfig, ask: SweatAsk, language: str) -> str:
    """Return the question with its number ("(2/7) ...") and its help, if any."""
    parts = [f"({ask.number}/{ask.total}) {localize(ask.question.text, language)}"]
    if ask.question.help is not None:
        parts.append(localize(ask.question.help, language))
    return "\n\n".join(parts)


def done_text(config: SweatConfig, done: SweatDone, language: str) -> str:
    """Return the plan, or the contraindication and safety note alone."""
    if done.plan is None:
        return "\n\n".join(
            (config.text("contraindication", language), config.text("safety_note", language))
        )
    return render_plan(config, done.plan, language)


def choice_label(config: SweatConfig, choice: Choice, language: str) -> str:
    return config.text(f"answer_{choice}", language)
