"""Frozen models of the knowledge base: findings, questions, rules, causes, advice, texts.

Built from the shared building blocks in `engine/primitives.py` (Frozen, Slug, Text, Level,
UNKNOWN) and the condition models in `conditions.py`, whose compiled tests (`evaluation.py`) a
knowledge base keeps. Local invariants (unique option values within one question, say) are model
validators; rules that span files (references, reachability, language coverage) live in lint
(`engine/lint/`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Annotated, Literal

from pydantic import Field, model_validator

from bot.engine.kb.conditions import Condition
from bot.engine.kb.evaluation import Context, Test, compiled, findings_in, first_holding
from bot.engine.primitives import UNKNOWN, Frozen, Level, LevelCode, Slug, Text, localize

REQUIRED_TEXTS = (
    "not_sure",
    "back",
    "restart",
    "done",
    "none_of_these",
    "why",
    "disclaimer",
    "welcome",
    "likely_causes",
    "what_to_do",
    "safety_net",
    "unsure_intro",
    "unsure_advice",
    "why_level",
    "why_causes",
    "no_red_flags",
    "no_cause_signals",
    "chat_keys",
    "chat_result_keys",
    "chat_invalid",
)
"""Texts the engine and the renderers look up by key; lint fails when one is missing."""


# ------------------------------------------------------------------ findings --
class Finding(Frozen):
    """One code of the clinical findings contract, with the values it accepts."""

    code: Slug
    values: tuple[str, ...] = Field(min_length=2)
    label: Text
    red_flag: bool = False
    not_asked: str | None = None
    """Why no question asks this finding (nothing reads it); lint then does not warn."""

    @model_validator(mode="after")
    def _values_unique(self) -> Finding:
        if len(set(self.values)) != len(self.values) or UNKNOWN in self.values:
            raise ValueError("values must be unique and must not list 'unknown' (it is implicit)")
        return self


# ----------------------------------------------------------------- questions --
class Option(Frozen):
    value: str
    label: Text


class SingleQuestion(Frozen):
    """One finding; the engine adds the "Not sure" (``unknown``) choice itself."""

    kind: Literal["single"]
    id: Slug
    finding: Slug
    text: Text
    help: Text | None = None
    options: tuple[Option, ...] = Field(min_length=2)
    ask_if: Condition | None = None
    skip_if_settled: bool = False
    """Skip the question when no answer to it could raise the triage level any more."""

    @model_validator(mode="after")
    def _options_unique(self) -> SingleQuestion:
        values = [option.value for option in self.options]
        if len(set(values)) != len(values):
            raise ValueError(f"question {self.id}: option values repeat")
        if UNKNOWN in values:
            raise ValueError(f"question {self.id}: 'unknown' is added by the engine")
        return self

    @property
    def findings(self) -> tuple[str, ...]:
        return (self.finding,)


class ChecklistItem(Frozen):
    """One tick box: ticked, it stores `value` for `finding` (shared CONTRACT of findings.yaml).

    An item for a yes/no finding stores "yes"; an item for one value of a multi-valued finding
    stores that value ("I have vomited" = nausea_vomiting "vomiting") and may `cover` more
    values that every rule treats alike ("every week or more" = weekly, most_nights_or_days).
    `unticked` is what the finding means when no item of it is ticked and the screen was
    finished with Done or None of these: "no" for a yes/no finding unless declared otherwise,
    nothing (the finding stays unknown) for a multi-valued one unless declared. Finished with
    "Not sure about some of these", unticked findings are `unknown` whatever is declared.
    """

    finding: Slug
    value: str = "yes"
    covers: tuple[str, ...] = ()
    """Values this item stands for, `value` first (lint: alike for every rule); empty: `value`."""
    unticked: str | Literal[False] | None = None
    """Declared meaning of an untouched item after Done; `false`: none (stays unknown)."""
    id: Slug | None = None
    """Names the tick in a session; defaults to the finding (one item per finding) or
    finding_value. Permanent, like question ids."""
    label: Text
    """Short button label."""
    detail: Text | None = None
    """Fuller wording shown in the message above the buttons."""

    @cached_property
    def key(self) -> str:
        """The id a session stores for this tick (read on every checklist screen and tick)."""
        if self.id is not None:
            return self.id
        return self.finding if self.value == "yes" else f"{self.finding}_{self.value}"

    @property
    def values(self) -> tuple[str, ...]:
        """Every value the item stands for, the stored one first."""
        return self.covers or (self.value,)

    @property
    def unticked_value(self) -> str | None:
        """What an untouched item means after Done: declared, else "no" for a yes item."""
        if self.unticked is False:
            return None
        if self.unticked is not None:
            return self.unticked
        return "no" if self.value == "yes" else None


class ChecklistQuestion(Frozen):
    """Several findings, one or more items each; see `ChecklistItem` for what ticks mean."""

    kind: Literal["checklist"]
    id: Slug
    text: Text
    help: Text | None = None
    items: tuple[ChecklistItem, ...] = Field(min_length=1)
    ask_if: Condition | None = None
    skip_if_settled: bool = False
    unsure: bool = False
    """Offer "Not sure about some of these": its unticked findings become `unknown`."""

    @model_validator(mode="after")
    def _items_unique(self) -> ChecklistQuestion:
        keys = [item.key for item in self.items]
        if len(set(keys)) != len(keys):
            raise ValueError(f"question {self.id}: two items share a key (give them ids)")
        pairs = [(item.finding, value) for item in self.items for value in item.values]
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"question {self.id}: a finding value is covered by two items")
        for item in self.items:
            if item.covers and item.covers[0] != item.value:
                raise ValueError(f"question {self.id}: item {item.key} covers its value first")
        return self

    @cached_property
    def findings(self) -> tuple[str, ...]:
        """The finding codes the items store, each once, in item order (made once)."""
        return tuple(dict.fromkeys(item.finding for item in self.items))

    def item(self, key: str) -> ChecklistItem | None:
        return next((item for item in self.items if item.key == key), None)


Question = Annotated[SingleQuestion | ChecklistQuestion, Field(discriminator="kind")]


# -------------------------------------------------------- rules, causes, advice --
class Rule(Frozen):
    """A triage rule: when `when` holds, the level is at least `level`."""

    id: Slug
    level: LevelCode
    when: Condition
    reason: Text
    source: str = Field(min_length=1)
    trip_card: Text | None = None
    """The rule in a few plain words on the trip card; every emergency and urgent rule has one
    (lint KB211). Rules may share a label: the card shows it once."""


class Signal(Frozen):
    when: Condition
    weight: int = Field(ge=-5, le=5)
    reason: Text


class Cause(Frozen):
    id: Slug
    name: Text
    summary: Text
    prior: int = Field(default=0, ge=0, le=5)
    signals: tuple[Signal, ...] = ()


Section = Literal["card", "action", "care", "prevention", "safety"]
"""`card` blocks are only shown as cards before a question, never in a result."""
SECTION_ORDER = ("action", "care", "prevention", "safety")
"""Result sections in display order; `card` blocks are never part of a result."""


class Advice(Frozen):
    """One block of advice; shown when `show_if` holds and `hide_if` does not."""

    id: Slug
    section: Section
    codes: tuple[Slug, ...]
    text: Text
    show_if: Condition | None = None
    hide_if: Condition | None = None
    source: str = ""
    short: Text | None = None
    """One short action line for the top of the result; the full text is behind "More"."""
    rank: int = Field(default=100, ge=0)
    """Order of the short lines (lowest first): the 2-3 most important lead the result."""
    trip_card: Text | None = None
    """The same advice in three short lines for the trip card's "Cramp now" (lint KB211)."""


SignalTest = tuple[Signal, Test, frozenset[str]]
"""A signal, its compiled condition and the finding codes it reads."""


class Card(Frozen):
    """Advice shown once, before the next question, when `when` first becomes true."""

    id: Slug
    when: Condition
    advice: Slug


class LevelInfo(Frozen):
    banner: str = Field(min_length=1)
    title: Text


class KnowledgeBase(Frozen):
    """The whole knowledge base, as loaded from `knowledge/`."""

    version: str = Field(min_length=1)
    languages: tuple[str, ...] = Field(min_length=1)
    texts: dict[Slug, Text]
    levels: dict[LevelCode, LevelInfo]
    patterns: dict[Slug, Condition] = Field(default_factory=dict)
    findings: tuple[Finding, ...]
    questions: tuple[Question, ...]
    rules: tuple[Rule, ...]
    causes: tuple[Cause, ...]
    advice: tuple[Advice, ...]
    cards: tuple[Card, ...] = ()
    advice_codes: tuple[Slug, ...]
    never_codes: tuple[Slug, ...] = ()
    emergency_phrases: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    """Per language: typed phrases that get the emergency card at once."""
    ask_only_what_matters: bool = False
    """Skip a question when none of its answers changes the level, the top cause, the advice
    or a card (issue 13)."""
    interim_answer: bool = False
    """Show the answer as soon as no question left can raise the level (BRIEF 3), with
    "Tailor my advice" to go on."""

    @cached_property
    def question_by_id(self) -> dict[str, SingleQuestion | ChecklistQuestion]:
        return {question.id: question for question in self.questions}

    @cached_property
    def tick_values(self) -> dict[str, tuple[str, str]]:
        """Checklist item key -> (finding, value) it stores, in question and item order."""
        return {
            item.key: (item.finding, item.value)
            for question in self.questions
            if isinstance(question, ChecklistQuestion)
            for item in question.items
        }

    @cached_property
    def options(self) -> dict[str, tuple[Option, ...]]:
        """Question id -> the options its screen offers: a single question's own with "Not
        sure" (``unknown``) added last, a checklist's items by key. Made once: every screen and
        every press shows them, and building them anew was some 6 % of the engine's time."""
        return {
            question.id: tuple(Option(value=item.key, label=item.label) for item in question.items)
            if isinstance(question, ChecklistQuestion)
            else (*question.options, Option(value=UNKNOWN, label=self.texts["not_sure"]))
            for question in self.questions
        }

    @cached_property
    def finding_by_code(self) -> dict[str, Finding]:
        return {finding.code: finding for finding in self.findings}

    @cached_property
    def rules_by_urgency(self) -> tuple[Rule, ...]:
        """The rules, most urgent level first (file order within a level)."""
        return tuple(sorted(self.rules, key=lambda rule: -Level.from_code(rule.level)))

    @cached_property
    def urgency(self) -> Callable[[Context], Level]:
        """The level of the most urgent rule that holds (self care if none), as one function
        trying `rules_by_urgency` in turn: `scoring.triage_level`."""
        cases = [(rule.when, Level.from_code(rule.level)) for rule in self.rules_by_urgency]
        return first_holding(cases, Level.SELF_CARE)

    @cached_property
    def rule_checks(self) -> tuple[tuple[Level, frozenset[str], Condition], ...]:
        """`rules_by_urgency` as (level, the finding codes read, condition): the loops that ask
        on every press whether some rule above the current level could still fire."""
        return tuple(
            (Level.from_code(rule.level), self.rule_reads[rule.id], rule.when)
            for rule in self.rules_by_urgency
        )

    @cached_property
    def rule_level(self) -> dict[str, Level]:
        """Rule id -> the level the rule forces."""
        return {rule.id: Level.from_code(rule.level) for rule in self.rules}

    @cached_property
    def question_index(self) -> dict[str, int]:
        """Question id -> its place in `questions` (the order they are asked in)."""
        return {question.id: index for index, question in enumerate(self.questions)}

    @cached_property
    def findings_from(self) -> tuple[frozenset[str], ...]:
        """Index i -> the finding codes of the questions from the i-th on (one more: none)."""
        found: list[frozenset[str]] = [frozenset()]
        for question in reversed(self.questions):
            found.append(found[-1] | frozenset(question.findings))
        return tuple(reversed(found))

    @cached_property
    def rule_reads(self) -> dict[str, frozenset[str]]:
        """Rule id -> the finding codes its condition reads (named patterns followed)."""
        return {rule.id: frozenset(findings_in(rule.when, self.patterns)) for rule in self.rules}

    @cached_property
    def signal_tests(self) -> tuple[tuple[Cause, tuple[SignalTest, ...]], ...]:
        """Per cause, each signal as (signal, compiled condition, the finding codes it reads):
        `scoring.rank_causes`'s loop, which runs for every outcome a press weighs."""
        patterns = self.patterns
        return tuple(
            (
                cause,
                tuple(
                    (signal, compiled(signal.when), frozenset(findings_in(signal.when, patterns)))
                    for signal in cause.signals
                ),
            )
            for cause in self.causes
        )

    @cached_property
    def result_advice(self) -> tuple[tuple[Advice, Test | None, Test | None], ...]:
        """The advice a result can show (not `card` blocks), in section order (file order
        within a section), as (block, compiled show_if, compiled hide_if): `select_advice`."""
        blocks = sorted(
            (block for block in self.advice if block.section != "card"),
            key=lambda block: SECTION_ORDER.index(block.section),
        )
        return tuple(
            (
                block,
                None if block.show_if is None else compiled(block.show_if),
                None if block.hide_if is None else compiled(block.hide_if),
            )
            for block in blocks
        )

    def finding(self, code: str) -> Finding:
        return self.finding_by_code[code]

    def question(self, question_id: str) -> SingleQuestion | ChecklistQuestion:
        return self.question_by_id[question_id]

    def advice_block(self, advice_id: str) -> Advice:
        return next(a for a in self.advice if a.id == advice_id)

    def text(self, key: str, language: str) -> str:
        return localize(self.texts[key], language)
