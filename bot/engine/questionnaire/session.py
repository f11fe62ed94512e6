"""The questionnaire session: small, versioned JSON that the stores keep between steps.

`format` is this model's own schema version. A change to the stored JSON bumps it and adds a
step to `_MIGRATIONS`, so a session written by an older release is upgraded, never misread.

Stored JSON (format 3; format 2 had no `tailor`): the answers are one object, question id -> value,
in the order they were answered; a value is an option (a string) or a checklist's ticked items (a
list). An answer that is `partial` (a checklist cut short by an emergency tick, or skipped by
`machine.start_at`) has its value wrapped as ``{"partial": value}``; no plain value is an object,
so the wrapper cannot be misread::

    "answers":{"cramp_now":"no","danger_signs":{"partial":["chest_pain"]}}

An object holds each key once, which fits: a question is answered at most once in a session
(`machine` asks only questions after the last one answered, and `back` drops the last answer),
and the model rejects a second answer to one question (a JSON object with a key twice is read
as its last value: only a hand-edited record has one).

Format 1 stored the answers as a list, ten bytes more for every answer (close to a third of a
finished session); such a session is upgraded on load::

    "answers":[{"q":"cramp_now","v":"no"},{"q":"danger_signs","v":["chest_pain"],"partial":true}]

Only the JSON is compact: in Python `answers` is the tuple of `Answer`s, `model_dump()` too.
The partial flag sits inside the answers object (not in a list of its own beside it) so that a
serializer of the one field suffices: a model serializer around every dump took twice the time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.engine.errors import InvalidAnswer
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase, SingleQuestion
from bot.engine.primitives import UNKNOWN, Slug

FORMAT = 3


class Answer(BaseModel):
    """One screen's answer: a single question's option value, or a checklist's ticked items."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: Slug
    v: str | tuple[Slug, ...]
    partial: bool = False
    """A checklist not finished with Done: "Not sure about some of these", cut short by an
    emergency tick, or skipped by `machine.start_at`. Its unticked findings are `unknown`."""


def _packed(answers: tuple[Answer, ...]) -> dict[str, Any]:
    """Return the answers as stored: question id -> value, or {"partial": value}."""
    return {a.q: {"partial": a.v} if a.partial else a.v for a in answers}


PackedAnswers = Annotated[tuple[Answer, ...], PlainSerializer(_packed, when_used="json")]
"""The answers, written to JSON as one object. The serializer sits on the type, not in a
`field_serializer`: with that, pydantic no longer sees an empty tuple as the default, and
`exclude_defaults` would write `"answers":{}` into every new session."""


class Session(BaseModel):
    """Where one user is in the questionnaire."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(ge=1, le=FORMAT, strict=True)
    """Schema version; written on every dump so that an old session is recognised.

    Strict: only a JSON integer is a version that `_migrate` acts on, so no other spelling
    ("1", 1.0, true) can pass as a format without its migration.
    """
    kb: str = Field(min_length=1)
    """Version of the knowledge base the answers belong to."""
    rev: int = Field(default=0, ge=0)
    """+1 on every step; buttons carry it so that a stale press is recognised."""
    answers: PackedAnswers = ()
    """In the order answered; each question at most once (stored as one JSON object)."""
    ticked: tuple[Slug, ...] = ()
    """Items ticked so far on the checklist being shown (not yet answers)."""
    done: bool = False
    tailor: int | None = Field(default=None, ge=0)
    """Set when the person pressed "Tailor my advice" on the interim answer: how many answers
    there were then. Questions after it tailor the causes and advice; Back to that point shows
    the interim answer again. (Format 3.)"""

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Upgrade a session stored in an older format to the current one."""
        if isinstance(data, dict):
            version = data.get("format")
            # bool is an int in Python, and format 0 or less would run every step: neither
            # may migrate into a valid session.
            if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
                for step in _MIGRATIONS[version:]:
                    data = step(data)
        return data

    @field_validator("answers", mode="before")
    @classmethod
    def _unpack_answers(cls, value: Any, info: ValidationInfo) -> Any:
        """Turn the stored object (question id -> value) into the list of answers."""
        if isinstance(value, Mapping):  # also a dump read back with json.loads
            return [_unpacked(q, v) for q, v in value.items()]
        if info.mode == "json":
            raise ValueError("answers are stored as an object: question id -> value")
        return value  # Python: the engine's own `Answer`s

    @field_validator("answers")
    @classmethod
    def _each_question_once(cls, answers: tuple[Answer, ...]) -> tuple[Answer, ...]:
        # The stored JSON keys answers by question id: a second answer would be lost.
        seen: set[str] = set()
        for answer in answers:
            if answer.q in seen:
                raise ValueError(f"question {answer.q} is answered twice")
            seen.add(answer.q)
        return answers

    def findings(self, kb: KnowledgeBase) -> dict[str, str]:
        """Return every recorded finding (code -> value) in the order answered."""
        merged: dict[str, str] = {}
        for answer in self.answers:
            add_findings(kb, merged, answer)
        return merged

    def dump(self) -> str:
        return self.model_dump_json(exclude_defaults=True)

    @classmethod
    def load(cls, text: str) -> Session:
        return cls.model_validate_json(text)


def add_findings(kb: KnowledgeBase, merged: dict[str, str], answer: Answer) -> None:
    """Record what `answer` found in `merged` (code -> value), over any earlier value."""
    question = kb.question_by_id.get(answer.q)
    if question is None:
        raise InvalidAnswer(f"session answers unknown question {answer.q}")
    if isinstance(question, SingleQuestion):
        merged[question.finding] = str(answer.v)
        return
    merged.update(checklist_findings(question, tuple(answer.v), finished=not answer.partial))


def checklist_findings(
    question: ChecklistQuestion, ticked: tuple[str, ...], *, finished: bool
) -> dict[str, str]:
    """Return what a checklist's `ticked` item keys find (shared CONTRACT of findings.yaml).

    A finding with ticked items takes the first ticked item's value in list order. One with
    none takes its declared unticked value when the screen was `finished` (Done or None of
    these), and `unknown` when it was not ("Not sure about some of these", or cut short).
    """
    chosen: dict[str, str] = {}
    for item in question.items:
        if item.key in ticked:
            chosen.setdefault(item.finding, item.value)
    found: dict[str, str] = {}  # in the checklist's order of findings
    for item in question.items:
        if item.finding in found:
            continue
        if item.finding in chosen:
            found[item.finding] = chosen[item.finding]
        elif not finished:
            found[item.finding] = UNKNOWN
        elif item.unticked_value is not None:
            found[item.finding] = item.unticked_value
    return found


def _unpacked(question: str, value: Any) -> dict[str, Any]:
    """Return one stored answer as `Answer` fields; the fields' own checks come after."""
    if not isinstance(value, Mapping):
        return {"q": question, "v": value}
    if value.keys() != {"partial"}:
        raise ValueError(f'answer {question} must be a value or {{"partial": value}}')
    return {"q": question, "v": value["partial"], "partial": True}


def _answers_as_object(data: dict[str, Any]) -> dict[str, Any]:
    """1 -> 2: the list of {q, v, partial} becomes one object, q -> v or {"partial": v}.

    Only the shape changes here; ids and values are validated after, by the current model.
    """
    listed = data.get("answers", [])
    if not isinstance(listed, list | tuple):
        # ValueError, not TypeError: pydantic turns only ValueError into a ValidationError.
        raise ValueError("a format-1 session keeps its answers in a list")  # noqa: TRY004
    answers: dict[str, Any] = {}
    for index, item in enumerate(listed):
        if not (
            isinstance(item, dict)
            and {"q", "v"} <= item.keys() <= {"q", "v", "partial"}
            and isinstance(item["q"], str)
            and isinstance(item.get("partial", False), bool)
        ):
            raise ValueError(f"format-1 answer {index} is not an object of q, v and partial")
        if item["q"] in answers:
            raise ValueError(f"question {item['q']} is answered twice")
        answers[item["q"]] = {"partial": item["v"]} if item.get("partial") else item["v"]
    return {**data, "format": 2, "answers": answers}


def _with_tailor(data: dict[str, Any]) -> dict[str, Any]:
    """2 -> 3: `tailor` is new and absent (None) in every older session; nothing else moves."""
    return {**data, "format": 3}


_MIGRATIONS: list[Callable[[dict[str, Any]], dict[str, Any]]] = [
    lambda data: data,  # index 0 is no format: format 1 is the baseline
    _answers_as_object,
    _with_tailor,
]
"""Index N upgrades format N to N+1 (stored JSON to stored JSON); `_migrate` runs the tail."""
