"""Anonymous aggregates of stored conversations, for `crampcheck stats`; pure, no I/O.

Each conversation is first reduced to a `Summary` (language, taps, level and top cause when
finished), which holds nothing that names a user and no answer; `aggregate` only counts those.
Languages, levels and causes outside the knowledge base's own sets are counted as `other`.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.engine.errors import EngineError
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.session import Session

OTHER = "other"
UNKNOWN_LEVEL = "unknown"
"""The level of a finished conversation the loaded knowledge base can no longer replay."""
NO_CAUSE = "none"


@dataclass(frozen=True, slots=True)
class Summary:
    """What stats may know of one conversation: no id, no answer."""

    language: str
    taps: int
    level: str | None = None
    """The triage level code when finished, else None."""
    top_cause: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """Counts over every conversation the store still holds."""

    started: int
    finished: int
    levels: dict[str, int]
    top_causes: dict[str, int]
    languages: dict[str, int]
    median_taps: float | None
    """Median button presses of finished conversations; None when none finished."""
    unreadable: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversations_started": self.started,
            "conversations_finished": self.finished,
            "results_by_level": self.levels,
            "results_by_top_cause": self.top_causes,
            "median_taps_to_result": self.median_taps,
            "languages": self.languages,
            "unreadable_records": self.unreadable,
        }


def summarize(kb: KnowledgeBase, session: Session, language: str) -> Summary:
    """Reduce one stored session to its summary, replaying a finished one (or one stopped at
    the interim answer) for its result."""
    language = language if language in kb.languages else OTHER
    try:
        step = machine.current_step(kb, session)
    except EngineError:  # outdated (another knowledge base) or no longer valid answers
        step = None
    # A conversation that stopped at the interim answer got its level: it counts as finished.
    if not session.done and not (isinstance(step, machine.Result) and step.interim):
        return Summary(language, session.rev)
    if not isinstance(step, machine.Result):
        return Summary(language, session.rev, UNKNOWN_LEVEL)
    top = step.causes[0].cause if step.causes else NO_CAUSE
    return Summary(language, session.rev, step.level.code, top)


def aggregate(kb: KnowledgeBase, summaries: Iterable[Summary], *, unreadable: int = 0) -> Stats:
    """Count conversations, results by level and top cause, languages and median taps."""
    items = list(summaries)
    finished = [item for item in items if item.level is not None]
    levels = _count((item.level for item in finished), (*kb.levels, UNKNOWN_LEVEL))
    causes = (*(cause.id for cause in kb.causes), NO_CAUSE)
    top_causes = _count(
        (item.top_cause for item in finished if item.top_cause is not None), causes
    )
    taps = [item.taps for item in finished if item.level != UNKNOWN_LEVEL]
    return Stats(
        started=len(items),
        finished=len(finished),
        levels=levels,
        top_causes={cause: count for cause, count in top_causes.items() if count},
        languages=_count((item.language for item in items), (*kb.languages, OTHER)),
        median_taps=float(statistics.median(taps)) if taps else None,
        unreadable=unreadable,
    )


def _count(values: Iterable[str | None], known: tuple[str, ...]) -> dict[str, int]:
    """Count `values` over `known` (each listed, 0 included); anything else goes to `other`."""
    counts = Counter(value if value in known else OTHER for value in values)
    result = {name: counts.get(name, 0) for name in known}
    if counts.get(OTHER) and OTHER not in result:
        result[OTHER] = counts[OTHER]
    return result


def render_stats(stats: Stats, *, ttl_hours: float) -> str:
    """Return the aggregates as plain text, one fact per line."""
    lines = [
        f"conversations in the store: {stats.started} (a conversation is erased after "
        f"{ttl_hours:g} h idle, by /cancel or /forget)",
        f"  finished with a result: {stats.finished}",
        f"  in progress or left: {stats.started - stats.finished}",
        "results by level:",
        *(f"  {level}: {count}" for level, count in stats.levels.items()),
        "results by most likely cause:",
        *(f"  {cause}: {count}" for cause, count in _by_count(stats.top_causes)),
        f"median taps to a result: {_number(stats.median_taps)}",
        "languages: " + ", ".join(f"{code} {count}" for code, count in stats.languages.items()),
    ]
    if stats.unreadable:
        lines.append(f"unreadable records (older format or damaged): {stats.unreadable}")
    return "\n".join(lines) + "\n"


def _by_count(counts: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
