"""The /sweat conversation: which sweat question comes next and what an answer does to it.

Pure, shared by the Telegram adapter and the terminal. Between messages the adapter keeps a
`SweatDraft` (the answers so far, JSON); `answer_text` and `answer_choice` return the next
draft and step, with a `SweatError` to show when the answer was refused. Questions, their
order and every word come from sweat.yaml. The heart/kidney question comes first and a "yes"
ends /sweat with the contraindication alone: no amounts, no salt advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.engine.sweat.arithmetic import SweatPlan, compute_plan
from bot.engine.sweat.config import (
    SweatConfig,
    SweatError,
    SweatInput,
    SweatQuestion,
    parse_number,
)

DRAFT_FORMAT = 1
RESTRICTED = "fluid_restricted"
"""The field whose "yes" ends /sweat with the contraindication alone."""
_EPSILON = 1e-9

Choice = Literal["yes", "no", "skip"]
_CHOICES: tuple[Choice, ...] = ("yes", "no", "skip")
_SHORT_CHOICES: dict[str, Choice] = {"y": "yes", "j": "yes", "n": "no"}


class SweatDraft(BaseModel):
    """The answers typed or tapped so far; `step` counts them, so that old buttons are spotted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=DRAFT_FORMAT, ge=1, le=DRAFT_FORMAT)
    numbers: dict[str, float] = Field(default_factory=dict)
    flags: dict[str, bool] = Field(default_factory=dict)

    @property
    def step(self) -> int:
        return len(self.numbers) + len(self.flags)

    def has(self, field: str) -> bool:
        return field in self.numbers or field in self.flags


@dataclass(frozen=True, slots=True)
class SweatAsk:
    """Ask `question`, number `number` of `total`."""

    question: SweatQuestion
    number: int
    total: int
    step: int
    """The draft's step when asked: buttons carry it."""

    @property
    def choices(self) -> tuple[Choice, ...]:
        """The buttons to offer: Yes/No, Skip for an optional number, none for a number."""
        if self.question.kind == "yes_no":
            return ("yes", "no")
        return ("skip",) if self.question.optional else ()


@dataclass(frozen=True, slots=True)
class SweatDone:
    """The end: a plan, or None when /sweat must give no numbers (heart, kidney...)."""

    plan: SweatPlan | None


SweatStep = SweatAsk | SweatDone


@dataclass(frozen=True, slots=True)
class SweatReply:
    """What an answer led to; `error` (if any) is shown before the step is asked (again)."""

    draft: SweatDraft
    step: SweatStep
    error: SweatError | None = None
    is_restarted: bool = False
    """The weigh-in as a whole was refused: its numbers are asked again from the first."""


def begin(config: SweatConfig) -> SweatReply:
    """Start /sweat with its first question."""
    draft = SweatDraft()
    return SweatReply(draft, next_step(config, draft))


def next_step(config: SweatConfig, draft: SweatDraft) -> SweatStep:
    """Return the first unanswered question, or the end (the plan is computed here)."""
    if draft.flags.get(RESTRICTED):
        return SweatDone(None)
    total = len(config.questions)
    for number, question in enumerate(config.questions, start=1):
        if not draft.has(question.field):
            return SweatAsk(question, number, total, draft.step)
    data = SweatInput.model_validate({**draft.numbers, **draft.flags})
    return SweatDone(compute_plan(config, data))


def answer_text(config: SweatConfig, draft: SweatDraft, text: str) -> SweatReply:
    """Apply typed text to the current question; a refused answer comes back as `error`."""
    step = next_step(config, draft)
    if not isinstance(step, SweatAsk):
        return SweatReply(draft, step)
    choice = parse_choice(config, text)
    if step.question.kind == "yes_no":
        if choice not in ("yes", "no"):
            return SweatReply(draft, step, SweatError("yes_no", field=step.question.field))
        return answer_choice(config, draft, choice)
    if step.question.optional and choice in ("skip", "no"):  # "no" to "did you pass urine?"
        return answer_choice(config, draft, "skip")
    try:
        value = parse_number(text)
        _check_range(config, step.question.field, value)
    except SweatError as error:
        return SweatReply(draft, step, error)
    updated = draft.model_copy(update={"numbers": {**draft.numbers, step.question.field: value}})
    return _advance(config, updated)


def answer_choice(config: SweatConfig, draft: SweatDraft, choice: Choice) -> SweatReply:
    """Apply a tapped Yes, No or Skip; one the current question does not offer is refused."""
    step = next_step(config, draft)
    if not isinstance(step, SweatAsk):
        return SweatReply(draft, step)
    field = step.question.field
    if choice not in step.choices:
        return SweatReply(draft, step, SweatError("yes_no", field=field))
    if choice == "skip":  # only an optional number offers Skip: nothing passed, nothing drunk
        updated = draft.model_copy(update={"numbers": {**draft.numbers, field: 0.0}})
    else:
        updated = draft.model_copy(update={"flags": {**draft.flags, field: choice == "yes"}})
    return _advance(config, updated)


def parse_choice(config: SweatConfig, text: str) -> Choice | None:
    """Read a typed yes, no or skip, in any language of /sweat ("ja", "Hopp over", "y")."""
    typed = " ".join(text.casefold().split())
    for choice in _CHOICES:
        words = config.texts[f"answer_{choice}"].values()
        if typed in {word.casefold() for word in words}:
            return choice
    return _SHORT_CHOICES.get(typed)


def _advance(config: SweatConfig, draft: SweatDraft) -> SweatReply:
    """Move on; when the whole weigh-in is refused, ask for the numbers again from the top."""
    try:
        return SweatReply(draft, next_step(config, draft))
    except SweatError as error:
        restarted = draft.model_copy(update={"numbers": {}})
        return SweatReply(restarted, next_step(config, restarted), error, is_restarted=True)


_RANGES = {  # field: (limit in sweat.yaml, factor from the asked unit to the limit's, code)
    "weight_before_kg": ("weight_kg", 1.0, "weight_range"),
    "weight_after_kg": ("weight_kg", 1.0, "weight_range"),
    "fluid_l": ("fluid_l", 1.0, "fluid_range"),
    "duration_h": ("duration_min", 60.0, "duration_range"),  # asked in hours, limited in min
    "urine_l": ("urine_l", 1.0, "urine_range"),
}


def _check_range(config: SweatConfig, field: str, value: float) -> None:
    """Refuse a number outside its own range at once, before the next question."""
    limit, factor, code = _RANGES[field]
    bounds = getattr(config.limits, limit)
    if not bounds.min - _EPSILON <= value * factor <= bounds.max + _EPSILON:
        raise SweatError(code, field=field)
