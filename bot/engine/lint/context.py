"""What every lint check shares: the knowledge base, where its parts came from, the issues so far.

`LintContext` also answers the one question several checks ask (can this condition ever
hold?), and `unknown` words an unknown reference with its "did you mean" hint. The checks
themselves are in `structure.py`, `conditions.py`, `questions.py`, `advice.py` and `card.py`; the
package's `__init__.py` runs them in order.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from bot.engine.issues import Issue, Severity
from bot.engine.kb.conditions import Condition
from bot.engine.kb.loader import SourceMap
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint.analysis import satisfiable
from bot.engine.numbers.table import EmergencyTable
from bot.engine.primitives import Level

Where = tuple[str, int | None, str]


class LintContext:
    """One lint run: the loaded knowledge base and its source map in, issues out."""

    def __init__(self, kb: KnowledgeBase, sources: SourceMap) -> None:
        self.kb = kb
        self.sources = sources
        self.issues: list[Issue] = []
        self.values = {finding.code: finding.values for finding in kb.findings}
        self.broken_patterns: set[str] = set()
        """Patterns that are cyclic or name an unknown pattern: reported once, never run."""
        self.numbers: EmergencyTable | None = None
        """The emergency-number table beside the knowledge base, if it has one that loads."""

    def add(self, code: str, where: Where, message: str, severity: Severity = "error") -> None:
        file, line, path = where
        self.issues.append(Issue(code, severity, file, line, path, message))

    def satisfiable(self, condition: Condition | None, *, level: Level | None = None) -> bool:
        return satisfiable(
            condition,
            patterns=self.kb.patterns,
            values=self.values,
            level=level,
            broken_patterns=self.broken_patterns,
        )


def unknown(kind: str, name: str, known: Any) -> str:
    """Word an unknown reference, with a "did you mean" hint when a known name is close."""
    hint = get_close_matches(name, list(known), n=1)
    return f"unknown {kind} {name!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
