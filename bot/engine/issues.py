"""A problem found in the knowledge base, with where it is and a stable code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem: `code` is stable (tests assert it), `message` is for people."""

    code: str
    severity: Severity
    file: str
    line: int | None
    path: str
    message: str

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '(top)'}: {self.code} {self.message}"
