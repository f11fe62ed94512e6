"""The questionnaire session: small, versioned JSON that the stores keep between steps.

`format` is this model's own schema version. A new field bumps it and adds a step to
`_MIGRATIONS`, so a session written by an older release is upgraded, never misread.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.engine.errors import InvalidAnswer
from bot.engine.models import KnowledgeBase, SingleQuestion
from bot.engine.primitives import Slug

FORMAT = 1


class Answer(BaseModel):
    """One screen's answer: a single question's option value, or a checklist's ticked items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: Slug
    v: str | tuple[Slug, ...]
    partial: bool = False
    """A checklist cut short by an emergency tick: its unticked items stay unknown."""


class Session(BaseModel):
    """Where one user is in the questionnaire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(ge=1, le=FORMAT)
    """Schema version; written on every dump so that an old session is recognised."""
    kb: str = Field(min_length=1)
    """Version of the knowledge base the answers belong to."""
    rev: int = Field(default=0, ge=0)
    """+1 on every step; buttons carry it so that a stale press is recognised."""
    answers: tuple[Answer, ...] = ()
    ticked: tuple[Slug, ...] = ()
    """Items ticked so far on the checklist being shown (not yet answers)."""
    done: bool = False

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        if isinstance(data, dict):
            version = data.get("format")
            for step in _MIGRATIONS[version if isinstance(version, int) else FORMAT :]:
                data = step(data)
        return data

    def findings(self, kb: KnowledgeBase) -> dict[str, str]:
        """Return every recorded finding (code -> value) in the order answered."""
        merged: dict[str, str] = {}
        for answer in self.answers:
            question = kb.question_by_id.get(answer.q)
            if question is None:
                raise InvalidAnswer(f"session answers unknown question {answer.q}")
            if isinstance(question, SingleQuestion):
                merged[question.finding] = str(answer.v)
                continue
            for item in question.items:
                if item.finding in answer.v:
                    merged[item.finding] = "yes"
                elif not answer.partial:
                    merged[item.finding] = "no"
        return merged

    def dump(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def load(cls, text: str) -> Session:
        return cls.model_validate_json(text)


_MIGRATIONS: list[Any] = [lambda data: data]
"""Index N upgrades format N to N+1; index 0 only exists so that format 1 is the baseline."""
