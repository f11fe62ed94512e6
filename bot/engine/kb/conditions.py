"""The condition language as frozen models: a discriminated union of findings, logic and levels.

Questions (`ask_if`), rules, cause signals, advice, cards and named patterns all hold a
`Condition`; `evaluation.py` evaluates them and `lint/analysis.py` reasons about them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from bot.engine.primitives import Frozen, LevelCode, Slug


class FindingIs(Frozen):
    """True when the finding's answer (``unknown`` when not answered) is one of `values`."""

    finding: Slug
    values: tuple[str, ...] = Field(alias="in", min_length=1)


class AllOf(Frozen):
    all_of: tuple[Condition, ...] = Field(alias="all", min_length=1)


class AnyOf(Frozen):
    any_of: tuple[Condition, ...] = Field(alias="any", min_length=1)


class NotOf(Frozen):
    negated: Condition = Field(alias="not")


class LevelIs(Frozen):
    """True when the triage level reached so far is one of `levels`."""

    levels: tuple[LevelCode, ...] = Field(alias="level", min_length=1)


class CauseIs(Frozen):
    """True when the cause is among the result's likely causes (advice conditions only)."""

    cause: Slug


class PatternIs(Frozen):
    """A named condition from `patterns` in kb.yaml (for example the overdrinking pattern)."""

    pattern: Slug


_CONDITION_KEYS = ("finding", "all", "any", "not", "level", "cause", "pattern")
_CONDITION_CLASSES: dict[type[Frozen], str] = {
    FindingIs: "finding",
    AllOf: "all",
    AnyOf: "any",
    NotOf: "not",
    LevelIs: "level",
    CauseIs: "cause",
    PatternIs: "pattern",
}


def _condition_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((key for key in _CONDITION_KEYS if key in value), None)
    return _CONDITION_CLASSES.get(type(value))


Condition = Annotated[
    Annotated[FindingIs, Tag("finding")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")]
    | Annotated[LevelIs, Tag("level")]
    | Annotated[CauseIs, Tag("cause")]
    | Annotated[PatternIs, Tag("pattern")],
    Discriminator(
        _condition_tag,
        custom_error_type="invalid_condition",
        custom_error_message=f"a condition needs one of the keys {', '.join(_CONDITION_KEYS)}",
    ),
]


for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()
