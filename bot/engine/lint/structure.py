"""Lint checks of the knowledge base's structure: unique ids, complete texts, acyclic patterns.

KB207 (an id used twice in one section), KB206 (a text missing, in an undeclared language or
empty; `emergency_phrases` for every language; every text the renderers need) and KB504 (an
empty help text, a warning), and KB403 (a named pattern that refers back to itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from bot.engine.kb.conditions import (
    AllOf,
    AnyOf,
    CauseIs,
    FindingIs,
    LevelIs,
    NotOf,
    PatternIs,
)
from bot.engine.kb.evaluation import walk
from bot.engine.kb.loader import KB_FILE
from bot.engine.kb.models import REQUIRED_TEXTS
from bot.engine.lint.context import LintContext, Where


def check_ids(lint: LintContext) -> None:
    """Report an id used twice within one section (KB207)."""
    sections: dict[str, tuple[Any, ...]] = {
        "findings": tuple(f.code for f in lint.kb.findings),
        "questions": tuple(q.id for q in lint.kb.questions),
        "rules": tuple(r.id for r in lint.kb.rules),
        "causes": tuple(c.id for c in lint.kb.causes),
        "advice": tuple(a.id for a in lint.kb.advice),
        "cards": tuple(c.id for c in lint.kb.cards),
    }
    for section, ids in sections.items():
        for index, item_id in enumerate(ids):
            if item_id in ids[:index]:
                lint.add("KB207", lint.sources.locate(section, index), f"duplicate id {item_id}")


def check_texts(lint: LintContext) -> None:
    """Report texts missing, in an undeclared language or empty (KB206, KB504)."""
    wanted = set(lint.kb.languages)
    for language in sorted(wanted - lint.kb.emergency_phrases.keys()):
        where = lint.sources.at(KB_FILE, ("emergency_phrases",))
        lint.add("KB206", where, f"emergency_phrases lacks language {language}")
    for key in REQUIRED_TEXTS:
        if key not in lint.kb.texts:
            lint.add("KB206", lint.sources.at(KB_FILE, ("texts",)), f"missing text {key}")
    for section, index, path, text in _texts(lint):
        missing = sorted(wanted - text.keys())
        where = _where(lint, section, index, path)
        if missing:
            lint.add("KB206", where, f"text lacks language(s) {', '.join(missing)}")
        extra = sorted(text.keys() - wanted)
        if extra:
            lint.add("KB206", where, f"text in undeclared language(s) {', '.join(extra)}")
        blank = [lang for lang, value in text.items() if not value.strip()]
        if blank and path[-1:] == ("help",):
            lint.add("KB504", where, "empty help text", "warning")
        elif blank:
            lint.add("KB206", where, f"empty text for {', '.join(blank)}")


def _texts(lint: LintContext) -> Iterator[tuple[str, int, tuple[str | int, ...], dict[str, str]]]:
    for section in ("findings", "questions", "rules", "causes", "advice"):
        for index, item in enumerate(getattr(lint.kb, section)):
            for path, text in _model_texts(item, ()):
                yield section, index, path, text
    for key, text in lint.kb.texts.items():
        yield "texts", -1, ("texts", key), text
    for level, info in lint.kb.levels.items():
        yield "levels", -1, ("levels", level, "title"), info.title


def _where(lint: LintContext, section: str, index: int, path: tuple[str | int, ...]) -> Where:
    if index < 0:
        return lint.sources.at(KB_FILE, path)
    return lint.sources.locate(section, index, *path)


def check_patterns(lint: LintContext) -> None:
    """Report pattern cycles (KB403) and mark the patterns in them as broken."""

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            where = lint.sources.at(KB_FILE, ("patterns", name))
            lint.add("KB403", where, f"pattern cycle: {' -> '.join((*trail, name))}")
            lint.broken_patterns.update(trail)
            return
        condition = lint.kb.patterns.get(name)
        for node in walk(condition) if condition is not None else ():
            if isinstance(node, PatternIs):
                visit(node.pattern, (*trail, name))

    for name in lint.kb.patterns:
        visit(name, ())


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
