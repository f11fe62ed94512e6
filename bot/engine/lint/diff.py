"""What a knowledge-base change alters, for a clinical reviewer to sign off before deploy.

Compares two loaded knowledge bases element by element (questions, rules, causes, advice,
patterns, texts) and, given clinical cases, which cases change triage, top cause or advice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire.assess import run_case

SECTIONS = ("findings", "questions", "rules", "causes", "advice", "cards")


@dataclass(frozen=True, slots=True)
class Change:
    section: str
    item: str
    kind: str
    """added | removed | changed"""
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CaseChange:
    case: str
    field: str
    old: str
    new: str


def diff_knowledge(old: KnowledgeBase, new: KnowledgeBase) -> list[Change]:
    """Return every added, removed or changed element, section by section."""
    changes: list[Change] = []
    for section in SECTIONS:
        changes += _diff_items(
            section, _by_id(getattr(old, section)), _by_id(getattr(new, section))
        )
    changes += _diff_items("patterns", dict(old.patterns), dict(new.patterns))
    changes += _diff_items("texts", dict(old.texts), dict(new.texts))
    changes += _diff_items("levels", old.levels, new.levels)
    if old.languages != new.languages:
        changes.append(Change("kb", "languages", "changed"))
    return changes


def diff_cases(
    old: KnowledgeBase, new: KnowledgeBase, cases: Iterable[Mapping[str, Any]]
) -> list[CaseChange]:
    """Run each case under both versions; return what differs in triage, causes and advice."""
    found: list[CaseChange] = []
    for case in cases:
        before = run_case(old, case["facts"]).result
        after = run_case(new, case["facts"]).result
        pairs = {
            "triage": (before.level.code, after.level.code),
            "top_cause": (_top(before.causes), _top(after.causes)),
            "advice_codes": (",".join(before.advice_codes), ",".join(after.advice_codes)),
        }
        found += [
            CaseChange(str(case["id"]), field, was, now)
            for field, (was, now) in pairs.items()
            if was != now
        ]
    return found


def render_diff(changes: Sequence[Change], case_changes: Sequence[CaseChange]) -> str:
    """Return a plain report: one line per change, triage changes first among the cases."""
    lines = [f"{len(changes)} knowledge-base change(s):"]
    lines += [
        f"  {c.kind:8} {c.section}/{c.item}" + (f" ({', '.join(c.fields)})" if c.fields else "")
        for c in changes
    ]
    ordered = sorted(case_changes, key=lambda c: (c.field != "triage", c.case))
    lines.append(f"{len(case_changes)} case difference(s):")
    lines += [f"  {c.case}: {c.field} {c.old or '-'} -> {c.new or '-'}" for c in ordered]
    return "\n".join(lines) + "\n"


def _top(causes: Sequence[Any]) -> str:
    return str(causes[0].cause) if causes else ""


def _by_id(items: Iterable[Any]) -> dict[str, Any]:
    return {str(getattr(item, "id", None) or item.code): item for item in items}


def _diff_items(section: str, old: Mapping[Any, Any], new: Mapping[Any, Any]) -> list[Change]:
    changes = [Change(section, key, "removed") for key in old if key not in new]
    changes += [Change(section, key, "added") for key in new if key not in old]
    for key in old.keys() & new.keys():
        fields = _changed_fields(old[key], new[key])
        if fields:
            changes.append(Change(section, key, "changed", fields))
    return sorted(changes, key=lambda change: (change.kind, change.item))


def _changed_fields(old: Any, new: Any) -> tuple[str, ...]:
    if isinstance(old, BaseModel) and isinstance(new, BaseModel):
        if type(old) is not type(new):
            return ("kind",)
        return tuple(
            name for name in type(old).model_fields if getattr(old, name) != getattr(new, name)
        )
    return ("value",) if old != new else ()
