"""The /sweat conversation: which planner question comes next and what an answer does to it.

Pure, shared by the Telegram adapter and the terminal. Between messages the adapter keeps a
`PlannerDraft` (the answers so far, JSON); `answer_text` and `answer_choice` return the next
draft and step, with a `PlannerError` to show when the answer was refused. Questions, their
order and every word come from planner.yaml. The heart/kidney question comes first and a "yes"
ends the planner with the contraindication alone: no amounts, no salt advice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.engine.primitives import localize
from bot.engine.sweat.arithmetic import SweatPlan, compute_plan
from bot.engine.sweat.config import (
    PlannerConfig,
    PlannerError,
    PlannerInput,
    PlannerQuestion,
    parse_number,
)
from bot.engine.sweat.text import render_plan

DRAFT_FORMAT = 1
RESTRICTED = "fluid_restricted"
"""The field whose "yes" ends the planner with the contraindication alone."""
_EPSILON = 1e-9

Choice = Literal["yes", "no", "skip"]
_CHOICES: tuple[Choice, ...] = ("yes", "no", "skip")
_SHORT_CHOICES: dict[str, Choice] = {"y": "yes", "j": "yes", "n": "no"}


class PlannerDraft(BaseModel):
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
class PlannerAsk:
    """Ask `question`, number `number` of `total`."""

    question: PlannerQuestion
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
class PlannerDone:
    """The end: a plan, or None when the planner must give no numbers (heart, kidney...)."""

    plan: SweatPlan | None


PlannerStep = PlannerAsk | PlannerDone


@dataclass(frozen=True, slots=True)
class PlannerReply:
    """What an answer led to; `error` (if any) is shown before the step is asked (again)."""

    draft: PlannerDraft
    step: PlannerStep
    error: PlannerError | None = None
    is_restarted: bool = False
    """The weigh-in as a whole was refused: its numbers are asked again from the first."""


def begin(config: PlannerConfig) -> PlannerReply:
    """Start the planner with its first question."""
    draft = PlannerDraft()
    return PlannerReply(draft, next_step(config, draft))


def next_step(config: PlannerConfig, draft: PlannerDraft) -> PlannerStep:
    """Return the first unanswered question, or the end (the plan is computed here)."""
    if draft.flags.get(RESTRICTED):
        return PlannerDone(None)
    total = len(config.questions)
    for number, question in enumerate(config.questions, start=1):
        if not draft.has(question.field):
            return PlannerAsk(question, number, total, draft.step)
    data = PlannerInput.model_validate({**draft.numbers, **draft.flags})
    return PlannerDone(compute_plan(config, data))


def answer_text(config: PlannerConfig, draft: PlannerDraft, text: str) -> PlannerReply:
    """Apply typed text to the current question; a refused answer comes back as `error`."""
    step = next_step(config, draft)
    if not isinstance(step, PlannerAsk):
        return PlannerReply(draft, step)
    choice = parse_choice(config, text)
    if step.question.kind == "yes_no":
        if choice not in ("yes", "no"):
            return PlannerReply(draft, step, PlannerError("yes_no", field=step.question.field))
        return answer_choice(config, draft, choice)
    if step.question.optional and choice in ("skip", "no"):  # "no" to "did you pass urine?"
        return answer_choice(config, draft, "skip")
    try:
        value = parse_number(text)
        _check_range(config, step.question.field, value)
    except PlannerError as error:
        return PlannerReply(draft, step, error)
    updated = draft.model_copy(update={"numbers": {**draft.numbers, step.question.field: value}})
    return _advance(config, updated)


def answer_choice(config: PlannerConfig, draft: PlannerDraft, choice: Choice) -> PlannerReply:
    """Apply a tapped Yes, No or Skip; one the current question does not offer is refused."""
    step = next_step(config, draft)
    if not isinstance(step, PlannerAsk):
        return PlannerReply(draft, step)
    field = step.question.field
    if choice not in step.choices:
        return PlannerReply(draft, step, PlannerError("yes_no", field=field))
    if choice == "skip":  # only an optional number offers Skip: nothing passed, nothing drunk
        updated = draft.model_copy(update={"numbers": {**draft.numbers, field: 0.0}})
    else:
        updated = draft.model_copy(update={"flags": {**draft.flags, field: choice == "yes"}})
    return _advance(config, updated)


def parse_choice(config: PlannerConfig, text: str) -> Choice | None:
    """Read a typed yes, no or skip, in any language of the planner ("ja", "Hopp over", "y")."""
    typed = " ".join(text.casefold().split())
    for choice in _CHOICES:
        words = config.texts[f"answer_{choice}"].values()
        if typed in {word.casefold() for word in words}:
            return choice
    return _SHORT_CHOICES.get(typed)


def _advance(config: PlannerConfig, draft: PlannerDraft) -> PlannerReply:
    """Move on; when the whole weigh-in is refused, ask for the numbers again from the top."""
    try:
        return PlannerReply(draft, next_step(config, draft))
    except PlannerError as error:
        restarted = draft.model_copy(update={"numbers": {}})
        return PlannerReply(restarted, next_step(config, restarted), error, is_restarted=True)


_RANGES = {  # field: (limit in planner.yaml, factor from the asked unit to the limit's, code)
    "weight_before_kg": ("weight_kg", 1.0, "weight_range"),
    "weight_after_kg": ("weight_kg", 1.0, "weight_range"),
    "fluid_l": ("fluid_l", 1.0, "fluid_range"),
    "duration_h": ("duration_min", 60.0, "duration_range"),  # asked in hours, limited in min
    "urine_l": ("urine_l", 1.0, "urine_range"),
}


def _check_range(config: PlannerConfig, field: str, value: float) -> None:
    """Refuse a number outside its own range at once, before the next question."""
    limit, factor, code = _RANGES[field]
    bounds = getattr(config.limits, limit)
    if not bounds.min - _EPSILON <= value * factor <= bounds.max + _EPSILON:
        raise PlannerError(code, field=field)


def question_text(config: PlannerConfig, ask: PlannerAsk, language: str) -> str:
    """Return the question with its number ("(2/7) ...") and its help, if any."""
    parts = [f"({ask.number}/{ask.total}) {localize(ask.question.text, language)}"]
    if ask.question.help is not None:
        parts.append(localize(ask.question.help, language))
    return "\n\n".join(parts)


def done_text(config: PlannerConfig, done: PlannerDone, language: str) -> str:
    """Return the plan, or the contraindication and safety note alone."""
    if done.plan is None:
        return "\n\n".join(
            (config.text("contraindication", language), config.text("safety_note", language))
        )
    return render_plan(config, done.plan, language)


def choice_label(config: PlannerConfig, choice: Choice, language: str) -> str:
    return config.text(f"answer_{choice}", language)
