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
order (`structure`, `conditions`, `questions`, `advice`, `card`), which share one `LintContext`.
It also owns `load_knowledge_base`, the way every caller gets a knowledge base: read through
`kb/loader.py`, checked here, refused on any error. Lint builds on the loader, never the reverse.

The trip card's length (KB212, and KB505 past its aim) is measured on the card as the user reads
it, which `bot/render/card.py` words, above the engine: that check comes in through `checks`
(`bot.render.card.check_card_length`), passed by every caller that lints for real (the CLI and
the bot's startup, both through `bot.cli`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from bot.engine.errors import KnowledgeBaseError
from bot.engine.issues import Issue
from bot.engine.kb.loader import (
    EMERGENCY_NUMBERS_FILE,
    SWEAT_FILE,
    Loaded,
    SourceMap,
    default_knowledge_dir,
    load_emergency_numbers,
    load_sweat_config,
    read_knowledge_base,
)
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint.advice import check_advice, check_usage
from bot.engine.lint.card import check_card
from bot.engine.lint.conditions import check_conditions
from bot.engine.lint.context import LintContext
from bot.engine.lint.questions import check_answerable, check_questions
from bot.engine.lint.structure import check_ids, check_patterns, check_texts
from bot.engine.numbers.table import EmergencyTable

Check = Callable[[LintContext], None]
"""One lint check: reads the context, adds its issues."""
_CHECKS: tuple[Check, ...] = (
    check_ids,
    check_texts,
    check_patterns,  # this and check_conditions mark broken patterns before any satisfiable()
    check_conditions,
    check_questions,
    check_answerable,
    check_advice,
    check_usage,
    check_card,
)
"""The knowledge-base checks, in the order their issues are reported."""


def load_knowledge_base(
    directory: Path | None = None, *, checks: Sequence[Check] = ()
) -> KnowledgeBase:
    """Load the knowledge base and lint it; raise KnowledgeBaseError listing every error.

    The bot, the terminal chat and `assess` all load through here, so none of them can run
    on a knowledge base that `crampcheck kb lint` would reject. `checks` run after the
    engine's own (the trip card's length, from `bot/render/card.py`).
    """
    directory = directory or default_knowledge_dir()
    loaded = read_knowledge_base(directory)
    issues = check_loaded(loaded, checks=checks)
    errors = [issue for issue in issues if issue.severity == "error"]
    if loaded.kb is None or errors:
        raise KnowledgeBaseError(
            f"knowledge base in {directory} has {len(errors)} error(s)", tuple(errors)
        )
    return loaded.kb


def lint_knowledge_base(directory: Path, *, checks: Sequence[Check] = ()) -> list[Issue]:
    """Load `directory` and return every issue found, errors and warnings; `checks` run
    after the engine's own."""
    return check_loaded(read_knowledge_base(directory), checks=checks)


def check_loaded(loaded: Loaded, *, checks: Sequence[Check] = ()) -> list[Issue]:
    """Return the structural issues of a read, or, when it loaded, every meaning issue."""
    side, tables = _check_side_tables(loaded.sources.root)
    if loaded.kb is None:
        return loaded.issues + side
    numbers = tables.get(EMERGENCY_NUMBERS_FILE)
    table = numbers if isinstance(numbers, EmergencyTable) else None
    return _check_knowledge_base(loaded.kb, loaded.sources, numbers=table, checks=checks) + side


SIDE_TABLES: dict[str, Callable[[Path], object]] = {
    EMERGENCY_NUMBERS_FILE: load_emergency_numbers,
    SWEAT_FILE: load_sweat_config,
}
"""Optional knowledge files with their own models and loaders, checked when present: the
emergency-number table and /sweat are features a knowledge base may leave out."""


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
    kb: KnowledgeBase,
    sources: SourceMap,
    *,
    numbers: EmergencyTable | None,
    checks: Sequence[Check],
) -> list[Issue]:
    lint = LintContext(kb, sources)
    lint.numbers = numbers
    for check in (*_CHECKS, *checks):
        check(lint)
    return lint.issues
