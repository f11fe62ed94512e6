"""Meaning checks over a loaded knowledge base: references, routing, reachability, texts.

Stable codes (tests assert codes, never wording):
  KB100-KB102  structure: YAML syntax, schema, missing file (from the loader)
  KB201-KB210  references: unknown finding, value, pattern, cause, advice, code, language...
  KB301-KB303  routing: options not exhaustive, checklist item not yes/no, finding asked twice
  KB401-KB404  graph: order (asks about a later answer), unreachable, pattern cycle, no advice
  KB501-KB504  warnings: unused cause, advice never shown, finding never asked, empty help
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from difflib import get_close_matches
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bot.engine.analysis import satisfiable
from bot.engine.conditions import findings_in, walk
from bot.engine.errors import KnowledgeBaseError
from bot.engine.issues import Issue, Severity
from bot.engine.loader import KB_FILE, Loaded, SourceMap, read_knowledge_base
from bot.engine.models import (
    REQUIRED_TEXTS,
    UNKNOWN,
    AllOf,
    AnyOf,
    CauseIs,
    ChecklistQuestion,
    Condition,
    FindingIs,
    KnowledgeBase,
    Level,
    LevelIs,
    NotOf,
    PatternIs,
    SingleQuestion,
)
from bot.engine.numbers import load_emergency_numbers
from bot.engine.planner import load_planner_config

Where = tuple[str, int | None, str]


def lint_knowledge_base(directory: Path) -> list[Issue]:
    """Load `directory` and return every issue found, errors and warnings."""
    return check_loaded(read_knowledge_base(directory))


def check_loaded(loaded: Loaded) -> list[Issue]:
    """Return the structural issues of a read, or, when it loaded, every meaning issue."""
    side = _check_side_tables(loaded.sources.root)
    if loaded.kb is None:
        return loaded.issues + side
    return _Linter(loaded.kb, loaded.sources).run() + side


SIDE_TABLES: dict[str, Callable[[Path], object]] = {
    "emergency_numbers.yaml": load_emergency_numbers,
    "planner.yaml": load_planner_config,
}
"""Optional knowledge files with their own models and loaders, checked when present: the
emergency-number table and the drinking planner are features a knowledge base may leave out."""


def _check_side_tables(directory: Path) -> list[Issue]:
    issues = []
    for file, load in SIDE_TABLES.items():
        if not (directory / file).is_file():
            continue
        try:
            load(directory / file)
        except KnowledgeBaseError as error:
            issues.append(Issue("KB101", "error", file, None, "", str(error)))
    return issues


def has_errors(issues: list[Issue], *, strict: bool = False) -> bool:
    return any(issue.severity == "error" or strict for issue in issues)


class _Linter:
    def __init__(self, kb: KnowledgeBase, sources: SourceMap) -> None:
        self.kb = kb
        self.sources = sources
        self.issues: list[Issue] = []
        self.values = {finding.code: finding.values for finding in kb.findings}
        self.broken_patterns: set[str] = set()
        """Patterns that are cyclic or name an unknown pattern: reported once, never run."""

    def run(self) -> list[Issue]:
        self._check_ids()
        self._check_texts()
        self._check_patterns()
        self.broken_patterns |= {
            node.pattern
            for condition, _, _ in self._conditions()
            for node in walk(condition)
            if isinstance(node, PatternIs) and node.pattern not in self.kb.patterns
        }
        for condition, where, scope in self._conditions():
            self._check_condition(condition, where, scope)
        self._check_questions()
        self._check_advice()
        self._check_usage()
        return self.issues

    def add(self, code: str, where: Where, message: str, severity: Severity = "error") -> None:
        file, line, path = where
        self.issues.append(Issue(code, severity, file, line, path, message))

    # ------------------------------------------------------------ structure --
    def _check_ids(self) -> None:
        sections: dict[str, tuple[Any, ...]] = {
            "findings": tuple(f.code for f in self.kb.findings),
            "questions": tuple(q.id for q in self.kb.questions),
            "rules": tuple(r.id for r in self.kb.rules),
            "causes": tuple(c.id for c in self.kb.causes),
            "advice": tuple(a.id for a in self.kb.advice),
            "cards": tuple(c.id for c in self.kb.cards),
        }
        for section, ids in sections.items():
            for index, item_id in enumerate(ids):
                if item_id in ids[:index]:
                    self.add(
                        "KB207", self.sources.locate(section, index), f"duplicate id {item_id}"
                    )

    def _check_texts(self) -> None:
        wanted = set(self.kb.languages)
        for language in sorted(wanted - self.kb.emergency_phrases.keys()):
            where = self.sources.at(KB_FILE, ("emergency_phrases",))
            self.add("KB206", where, f"emergency_phrases lacks language {language}")
        for key in REQUIRED_TEXTS:
            if key not in self.kb.texts:
                self.add("KB206", self.sources.at(KB_FILE, ("texts",)), f"missing text {key}")
        for section, index, path, text in self._texts():
            missing = sorted(wanted - text.keys())
            where = self._where(section, index, path)
            if missing:
                self.add("KB206", where, f"text lacks language(s) {', '.join(missing)}")
            extra = sorted(text.keys() - wanted)
            if extra:
                self.add("KB206", where, f"text in undeclared language(s) {', '.join(extra)}")
            blank = [lang for lang, value in text.items() if not value.strip()]
            if blank and path[-1:] == ("help",):
                self.add("KB504", where, "empty help text", "warning")
            elif blank:
                self.add("KB206", where, f"empty text for {', '.join(blank)}")

    def _texts(self) -> Iterator[tuple[str, int, tuple[str | int, ...], dict[str, str]]]:
        for section in ("findings", "questions", "rules", "causes", "advice"):
            for index, item in enumerate(getattr(self.kb, section)):
                for path, text in _model_texts(item, ()):
                    yield section, index, path, text
        for key, text in self.kb.texts.items():
            yield "texts", -1, ("texts", key), text
        for level, info in self.kb.levels.items():
            yield "levels", -1, ("levels", level, "title"), info.title

    def _where(self, section: str, index: int, path: tuple[str | int, ...]) -> Where:
        if index < 0:
            return self.sources.at(KB_FILE, path)
        return self.sources.locate(section, index, *path)

    def _check_patterns(self) -> None:
        def visit(name: str, trail: tuple[str, ...]) -> None:
            if name in trail:
                where = self.sources.at(KB_FILE, ("patterns", name))
                self.add("KB403", where, f"pattern cycle: {' -> '.join((*trail, name))}")
                self.broken_patterns.update(trail)
                return
            condition = self.kb.patterns.get(name)
            for node in walk(condition) if condition is not None else ():
                if isinstance(node, PatternIs):
                    visit(node.pattern, (*trail, name))

        for name in self.kb.patterns:
            visit(name, ())

    # ----------------------------------------------------------- conditions --
    def _conditions(self) -> Iterator[tuple[Condition, Where, str]]:
        for name, condition in self.kb.patterns.items():
            yield condition, self.sources.at(KB_FILE, ("patterns", name)), "pattern"
        for index, question in enumerate(self.kb.questions):
            if question.ask_if is not None:
                yield question.ask_if, self.sources.locate("questions", index, "ask_if"), "ask"
        for index, rule in enumerate(self.kb.rules):
            yield rule.when, self.sources.locate("rules", index, "when"), "rule"
        for index, cause in enumerate(self.kb.causes):
            for number, signal in enumerate(cause.signals):
                where = self.sources.locate("causes", index, "signals", number, "when")
                yield signal.when, where, "signal"
        for index, block in enumerate(self.kb.advice):
            for field in ("show_if", "hide_if"):
                condition = getattr(block, field)
                if condition is not None:
                    yield condition, self.sources.locate("advice", index, field), "advice"
        for index, card in enumerate(self.kb.cards):
            yield card.when, self.sources.at(KB_FILE, ("cards", index, "when")), "card"

    def _check_condition(self, condition: Condition, where: Where, scope: str) -> None:
        causes = [cause.id for cause in self.kb.causes]
        for node in walk(condition):
            if isinstance(node, FindingIs):
                self._check_finding(node.finding, node.values, where)
            elif isinstance(node, PatternIs) and node.pattern not in self.kb.patterns:
                self.add("KB203", where, _unknown("pattern", node.pattern, self.kb.patterns))
            elif isinstance(node, CauseIs):
                if node.cause not in causes:
                    self.add("KB203", where, _unknown("cause", node.cause, causes))
                if scope != "advice":
                    self.add("KB209", where, "a cause condition is only allowed in advice")
            elif isinstance(node, LevelIs) and scope not in ("advice", "ask"):
                self.add("KB209", where, f"a level condition is not allowed in a {scope}")

    def _check_finding(self, code: str, values: tuple[str, ...], where: Where) -> None:
        if code not in self.values:
            self.add("KB201", where, _unknown("finding", code, self.values))
            return
        for value in values:
            if value != UNKNOWN and value not in self.values[code]:
                self.add("KB202", where, _unknown(f"value of {code}", value, self.values[code]))

    # ------------------------------------------------------------ questions --
    def _check_questions(self) -> None:
        asked_at: dict[str, int] = {}
        for index, question in enumerate(self.kb.questions):
            where = self.sources.locate("questions", index)
            if isinstance(question, SingleQuestion):
                self._check_single(question, index)
            else:
                self._check_checklist(question, index)
            for code in question.findings:
                if code in asked_at:
                    self.add(
                        "KB303",
                        where,
                        f"finding {code} is already asked by "
                        f"{self.kb.questions[asked_at[code]].id}",
                    )
                asked_at.setdefault(code, index)
        for index, question in enumerate(self.kb.questions):
            if question.ask_if is None:
                continue
            where = self.sources.locate("questions", index, "ask_if")
            reads = findings_in(question.ask_if, self.kb.patterns)
            for code in sorted(reads):
                if code in self.values and asked_at.get(code, len(self.kb.questions)) >= index:
                    self.add(
                        "KB401",
                        where,
                        f"ask_if reads {code}, which is not asked before question {question.id}",
                    )
            if not self._satisfiable(question.ask_if):
                self.add("KB402", where, f"question {question.id} can never be asked")

    def _check_single(self, question: SingleQuestion, index: int) -> None:
        if question.finding not in self.values:
            where = self.sources.locate("questions", index, "finding")
            self.add("KB201", where, _unknown("finding", question.finding, self.values))
            return
        expected = self.values[question.finding]
        offered = [option.value for option in question.options]
        for number, value in enumerate(offered):
            if value not in expected:
                where = self.sources.locate("questions", index, "options", number, "value")
                self.add("KB202", where, _unknown(f"value of {question.finding}", value, expected))
        missing = [value for value in expected if value not in offered]
        if missing:
            where = self.sources.locate("questions", index, "options")
            self.add("KB301", where, f"options of {question.id} do not offer {', '.join(missing)}")

    def _check_checklist(self, question: ChecklistQuestion, index: int) -> None:
        for number, item in enumerate(question.items):
            where = self.sources.locate("questions", index, "items", number, "finding")
            if item.finding not in self.values:
                self.add("KB201", where, _unknown("finding", item.finding, self.values))
            elif set(self.values[item.finding]) != {"yes", "no"}:
                self.add("KB302", where, f"checklist item {item.finding} is not a yes/no finding")

    # --------------------------------------------------------------- advice --
    def _check_advice(self) -> None:
        known = self.kb.advice_codes
        for index, block in enumerate(self.kb.advice):
            where = self.sources.locate("advice", index, "codes")
            if not block.codes:
                self.add("KB210", where, f"advice {block.id} carries no advice code")
            for code in block.codes:
                if code not in known:
                    self.add("KB204", where, _unknown("advice code", code, known))
                elif code in self.kb.never_codes:
                    self.add(
                        "KB205",
                        where,
                        f"advice {block.id} is tagged {code}, which the bot must never advise",
                    )
        ids = [block.id for block in self.kb.advice]
        for index, card in enumerate(self.kb.cards):
            if card.advice not in ids:
                where = self.sources.at(KB_FILE, ("cards", index, "advice"))
                self.add("KB203", where, _unknown("advice", card.advice, ids))
        for level in Level:
            if not any(
                self._can_show(block, level)
                for block in self.kb.advice
                if block.section == "action" or level is Level.SELF_CARE
            ):
                where = self.sources.at("advice.yaml", ())
                self.add("KB404", where, f"no advice can ever be shown at level {level.code}")

    def _can_show(self, block: Any, level: Level) -> bool:
        return block.section != "card" and self._satisfiable(block.show_if, level=level)

    def _check_usage(self) -> None:
        used_causes = {
            node.cause
            for block in self.kb.advice
            for condition in (block.show_if, block.hide_if)
            if condition is not None
            for node in walk(condition)
            if isinstance(node, CauseIs)
        }
        for index, cause in enumerate(self.kb.causes):
            if cause.id not in used_causes:
                self.add(
                    "KB501",
                    self.sources.locate("causes", index),
                    f"cause {cause.id} is never used by any advice",
                    "warning",
                )
        for index, block in enumerate(self.kb.advice):
            if block.section != "card" and not self._satisfiable(block.show_if):
                self.add(
                    "KB502",
                    self.sources.locate("advice", index, "show_if"),
                    f"advice {block.id} can never be shown",
                    "warning",
                )
        asked = {code for question in self.kb.questions for code in question.findings}
        for index, finding in enumerate(self.kb.findings):
            if finding.code not in asked:
                self.add(
                    "KB503",
                    self.sources.locate("findings", index),
                    f"finding {finding.code} is never asked",
                    "warning",
                )

    # ------------------------------------------------------- satisfiability --
    def _satisfiable(self, condition: Condition | None, *, level: Level | None = None) -> bool:
        return satisfiable(
            condition,
            patterns=self.kb.patterns,
            values=self.values,
            level=level,
            broken_patterns=self.broken_patterns,
        )


def _model_texts(
    model: BaseModel, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], dict[str, str]]]:
    """Yield every user-facing text (a language -> str dict) inside a model."""
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, AllOf | AnyOf | NotOf | FindingIs | LevelIs | CauseIs | PatternIs):
            continue
        key = _alias(model, name)
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            yield (*path, key), value
        elif isinstance(value, BaseModel):
            yield from _model_texts(value, (*path, key))
        elif isinstance(value, tuple):
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    yield from _model_texts(item, (*path, key, index))


def _alias(model: BaseModel, name: str) -> str:
    return type(model).model_fields[name].alias or name


def _unknown(kind: str, name: str, known: Any) -> str:
    hint = get_close_matches(name, list(known), n=1)
    return f"unknown {kind} {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
