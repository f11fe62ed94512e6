"""/sweat's configuration and input: sweat.yaml's models and the weigh-in.

`SweatConfig` is everything in `knowledge/sweat.yaml` (limits, constants, questions and
texts in every language; sources cited there) and validates against `SweatInput`, the
weigh-in, whose fields its questions must fill. `kb/loader.py` reads the file
(`load_sweat_config`). The arithmetic is in `arithmetic.py`, the wording in `text.py`.
"""

from __future__ import annotations

import math
import string
from typing import Literal

from pydantic import Field, model_validator

from bot.engine.errors import EngineError
from bot.engine.primitives import Frozen, Slug, Text, localize

REQUIRED_TEXTS = frozenset(
    """answer_yes answer_no answer_skip decimal_separator unit_kg unit_l unit_ml unit_l_per_h
    unit_percent duration_hours_minutes duration_hours duration_minutes title result_measured
    status_ok status_unchanged status_over_2_percent warning_overdrinking plan_rate plan_basis
    plan_basis_gained plan_capped plan_none_gained plan_none_needed thirst_guidance
    sodium_advice contraindication safety_note error_not_a_number error_weight_range
    error_duration_range error_fluid_range error_urine_range error_implausible_loss
    error_implausible_gain error_negative_sweat_loss error_implausible_rate""".split()  # noqa: SIM905 -- a word list reads better than 37 quoted lines
)


class SweatError(EngineError):
    """Input /sweat refuses; `code` is stable, `key` names the text that explains it.

    The message holds only the code and field: the numbers are health data, kept in `values`.
    """

    def __init__(self, code: str, key: str = "", *, field: str = "", **values: float) -> None:
        super().__init__(f"sweat input refused: {code}" + (f" ({field})" if field else ""))
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
    """Never recommend above about 1 L/h, whatever the file says (see sweat.yaml)."""
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


class SweatQuestion(Frozen):
    field: str
    """The SweatInput field the answer fills."""
    kind: Literal["number", "yes_no"]
    optional: bool = False
    text: Text
    help: Text | None = None


class SweatConfig(Frozen):
    """Everything in sweat.yaml: limits, constants, questions and texts in every language."""

    version: str = Field(min_length=1)
    languages: tuple[str, ...] = Field(min_length=1)
    sources: tuple[Source, ...] = Field(min_length=1)
    limits: Limits
    thresholds: Thresholds
    plan: PlanRules
    questions: tuple[SweatQuestion, ...]
    texts: dict[Slug, Text]

    @model_validator(mode="after")
    def _complete(self) -> SweatConfig:
        if missing := sorted(REQUIRED_TEXTS - self.texts.keys()):
            raise ValueError(f"texts missing: {', '.join(missing)}")
        if sorted(q.field for q in self.questions) != sorted(SweatInput.model_fields):
            raise ValueError("questions must fill every SweatInput field exactly once")
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


# --------------------------------------------------------------------- input --
class SweatInput(Frozen):
    """One weigh-in; refuses what no configuration could accept.

    The configured limits are checked by `arithmetic.validate_input`.
    """

    weight_before_kg: float
    weight_after_kg: float
    fluid_l: float
    duration_h: float
    urine_l: float = 0.0
    salty_sweater: bool = False
    fluid_restricted: bool = False

    @model_validator(mode="after")
    def _possible(self) -> SweatInput:
        # SweatError is not a ValueError, so pydantic lets it through unwrapped.
        for field, (code, is_zero_possible) in INPUT_NUMBERS.items():
            value = getattr(self, field)
            if not math.isfinite(value):
                raise SweatError("not_a_number", field=field)
            if value < 0 or (value == 0 and not is_zero_possible):
                raise SweatError(code, field=field)
        return self


INPUT_NUMBERS = {  # field: (error code, whether zero is possible)
    "weight_before_kg": ("weight_range", False),
    "weight_after_kg": ("weight_range", False),
    "fluid_l": ("fluid_range", True),
    "duration_h": ("duration_range", False),
    "urine_l": ("urine_range", True),
}


def parse_number(text: str) -> float:
    """Read a number typed in chat, accepting a decimal comma ("70,5") as well as a point."""
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        raise SweatError("not_a_number") from None
    if not math.isfinite(value):
        raise SweatError("not_a_number")
    return value
