"""Meaning checks over a loaded knowledge base: references, routing, reachability, texts.

Stable codes (tests assert codes, never wording):
  KB100-KB102  structure: YAML syntax, schema, missing file (from the loader)
  KB201-KB212  references: unknown finding, value, pattern, cause, advice, code, language...;
               KB211-KB212 the trip card: a red flag or the first aid left out, too long
  KB301-KB303  routing: options not exhaustive, checklist item not yes/no, finding asked twice
  KB401-KB404  graph: order (asks about a later answer), unreachable, pattern cycle, no advice
  KB501-KB505  warnings: unused cause, advice never shown, finding never asked, empty help,
               trip card over its aim

This module is the driver: it checks the side tables and runs the knowledge-base checks in
order (`lint_structure`, `lint_conditions`, `lint_questions`, `lint_advice`, `lint_card`),
which share one `LintContext`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.engine.errors import KnowledgeBaseError
from bot.engine.issues import Issue
from bot.engine.lint_advice import check_advice, check_usage
from bot.engine.lint_card import check_trip_card
from bot.engine.lint_conditions import check_conditions
from bot.engine.lint_context import LintContext
from bot.engine.lint_questions import check_answerable, check_questions
from bot.engine.lint_structure import check_ids, check_patterns, check_texts
from bot.engine.loader import Loaded, SourceMap, read_knowledge_base
from bot.engine.models import KnowledgeBase
from bot.engine.numbers import EMERGENCY_NUMBERS_FILE, EmergencyTable, load_emergency_numbers
from bot.engine.planner import load_planner_config

_CHECKS: tuple[Callable[[LintContext], None], ...] = (
    check_ids,
    check_texts,
    check_patterns,  # this and check_conditions mark broken patterns before any satisfiable()
    check_conditions,
    check_questions,
    check_answerable,
    check_advice,
    check_usage,
    check_trip_card,
)
"""The knowledge-base checks, in the order their issues are reported."""


def lint_knowledge_base(directory: Path) -> list[Issue]:
    """Load `directory` and return every issue found, errors and warnings."""
    return check_loaded(read_knowledge_base(directory))


def check_loaded(loaded: Loaded) -> list[Issue]:
    """Return the structural issues of a read, or, when it loaded, every meaning issue."""
    side, tables = _check_side_tables(loaded.sources.root)
    if loaded.kb is None:
        return loaded.issues + side
    numbers = tables.get(EMERGENCY_NUMBERS_FILE)
    table = numbers if isinstance(numbers, EmergencyTable) else None
    return _check_knowledge_base(loaded.kb, loaded.sources, numbers=table) + side


SIDE_TABLES: dict[str, Callable[[Path], object]] = {
    EMERGENCY_NUMBERS_FILE: load_emergency_numbers,
    "planner.yaml": load_planner_config,
}
"""Optional knowledge files with their own models and loaders, checked when present: the
emergency-number table and the drinking planner are features a knowledge base may leave out."""


def _check_side_tables(directory: Path) -> tuple[list[Issue], dict[str, object]]:
    """Return the side tables' issues, and the tables that loaded (by file name)."""
    issues = []
    tables = {}
    for file, load in SIDE_TABLES.items():
        if not (directory / file).is_file():
            continue
        try:
            tables[file] = load(directory / file)
        except KnowledgeBaseError as error:
            issues.append(Issue("KB101", "error", file, None, "", str(error)))
    return issues, tables


def has_errors(issues: list[Issue], *, strict: bool = False) -> bool:
    return any(issue.severity == "error" or strict for issue in issues)


def _check_knowledge_base(
    kb: KnowledgeBase, sources: SourceMap, *, numbers: EmergencyTable | None
) -> list[Issue]:
    lint = LintContext(kb, sources)
    lint.numbers = numbers
    for check in _CHECKS:
        check(lint)
    return lint.issues
