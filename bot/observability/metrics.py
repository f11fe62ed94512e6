"""What operators may see of the bot: Prometheus metrics and one-JSON-object-per-line logs.

`Metrics` owns every metric on its own `CollectorRegistry` (never prometheus-client's global one,
so two applications, or two tests, never share counts). Every label value comes from a small
fixed set: update kinds, Bot API error kinds, store operations, the knowledge base's triage
levels and cause ids. Anything else is counted as `other`, so no user id, chat id, answer or
typed text can ever become a label. `JsonFormatter` writes log records as JSON lines; it drops
nothing the caller logged but redacts anything shaped like a bot token.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot import __version__
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire.machine import Result

OTHER = "other"
NO_CAUSE = "none"
UPDATE_KINDS = ("message", "callback", "edited", OTHER)
OUTCOMES = ("ok", "error")
API_ERROR_KINDS = (
    "bad_request",
    "unauthorized",
    "forbidden",
    "not_found",
    "conflict",
    "flood",
    "server",
    "timeout",
    "network",
    OTHER,
)
STORE_OPERATIONS = (
    "get",
    "get_many",
    "put",
    "delete",
    "delete_user",
    "count",
    "scan",
    "schedule",
    "unschedule",
    "due",
)
STORE_ERROR_KINDS = ("conflict", "error")
# Handlers answer in milliseconds; the top buckets catch a slow store or Bot API.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def pick(value: str, allowed: Iterable[str]) -> str:
    """Return `value` if it is one of `allowed`, else `other`: labels stay a fixed small set."""
    return value if value in allowed else OTHER


class Metrics:
    """Every CrampCheck metric, registered on one registry of its own."""

    def __init__(self, kb: KnowledgeBase, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.levels = tuple(kb.levels)
        self.causes = (*(cause.id for cause in kb.causes), NO_CAUSE)
        self._define()
        self._zero()
        self.info.labels(version=__version__, knowledge_base=kb.version).set(1)

    def _define(self) -> None:
        registry = self.registry
        self.info = Gauge(
            "crampcheck_build_info",
            "Always 1; labels name the running version and knowledge base.",
            ["version", "knowledge_base"],
            registry=registry,
        )
        self.updates = Counter(
            "crampcheck_updates",
            "Updates handled, by kind and outcome.",
            ["kind", "outcome"],
            registry=registry,
        )
        self.handler_seconds = Histogram(
            "crampcheck_handler_seconds",
            "Time from receiving an update to the end of its handlers.",
            ["kind"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.results = Counter(
            "crampcheck_results", "Results given, by triage level.", ["level"], registry=registry
        )
        self.top_causes = Counter(
            "crampcheck_result_top_causes",
            "Results given, by their most likely cause.",
            ["cause"],
            registry=registry,
        )
        self.api_requests = Counter(
            "crampcheck_bot_api_requests", "Requests sent to the Bot API.", registry=registry
        )
        self.api_errors = Counter(
            "crampcheck_bot_api_errors",
            "Failed Bot API requests, by kind.",
            ["kind"],
            registry=registry,
        )
        self.api_retries = Counter(
            "crampcheck_bot_api_retries",
            "Bot API requests sent again after a failure, by the kind of that failure.",
            ["kind"],
            registry=registry,
        )
        self.store_seconds = Histogram(
            "crampcheck_store_seconds",
            "Session store latency, by operation.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.store_errors = Counter(
            "crampcheck_store_errors",
            "Failed store operations: lost compare-and-set races and errors.",
            ["operation", "kind"],
            registry=registry,
        )

    def _zero(self) -> None:
        """Create every labelled series at 0, so dashboards and rate() see them from the start.

        The series counted on every update are kept by label, so that the hot path skips
        prometheus-client's label lookup (a lock and a validation per call).
        """
        self._handler_seconds = {
            kind: self.handler_seconds.labels(kind=kind) for kind in UPDATE_KINDS
        }
        self._updates = {
            (kind, outcome): self.updates.labels(kind=kind, outcome=outcome)
            for kind in UPDATE_KINDS
            for outcome in OUTCOMES
        }
        self._store_seconds = {
            operation: self.store_seconds.labels(operation=operation)
            for operation in STORE_OPERATIONS
        }
        for level in self.levels:
            self.results.labels(level=level)
        for cause in self.causes:
            self.top_causes.labels(cause=cause)
        for kind in API_ERROR_KINDS:
            self.api_errors.labels(kind=kind)
            self.api_retries.labels(kind=kind)

    def record_update(self, kind: str, *, seconds: float, is_error: bool) -> None:
        """Count one handled update of `kind` and how long its handlers took."""
        label = pick(kind, UPDATE_KINDS)
        self._updates[label, "error" if is_error else "ok"].inc()
        self._handler_seconds[label].observe(seconds)

    def record_result(self, result: Result) -> None:
        """Count a result by its level and top cause (never its answers)."""
        self.results.labels(level=pick(result.level.code, self.levels)).inc()
        top = result.causes[0].cause if result.causes else NO_CAUSE
        self.top_causes.labels(cause=pick(top, self.causes)).inc()

    def record_api_error(self, kind: str) -> None:
        self.api_errors.labels(kind=pick(kind, API_ERROR_KINDS)).inc()

    def record_api_retry(self, kind: str) -> None:
        """Count a resend after a failure of `kind` (a retry wrapper may call this directly)."""
        self.api_retries.labels(kind=pick(kind, API_ERROR_KINDS)).inc()

    def record_store(self, operation: str, *, seconds: float, error: str | None = None) -> None:
        """Observe one store call; `error` is `conflict` or `error` when it failed."""
        label = pick(operation, STORE_OPERATIONS)
        timed = self._store_seconds.get(label) or self.store_seconds.labels(operation=label)
        timed.observe(seconds)
        if error is not None:
            self.store_errors.labels(operation=label, kind=pick(error, STORE_ERROR_KINDS)).inc()

    def render(self) -> bytes:
        """Return the Prometheus text exposition of every metric."""
        return generate_latest(self.registry)


# A bot token is "<bot id>:<35 characters>"; URLs carry it as "/bot<token>/".
TOKEN_PATTERN = re.compile(r"\d{5,}:[A-Za-z0-9_-]{30,}")
# Attributes every LogRecord has; anything else was passed by the caller as `extra`.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object: time, level, logger, message, then any extras.

    The message is what the code logged (ids, codes, revisions; never answers, by the rule in
    STYLE.md); a token-shaped string anywhere in the line is replaced by `<token>`.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(
            (name, value) for name, value in vars(record).items() if name not in _STANDARD
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        line = json.dumps(entry, default=str, ensure_ascii=False)
        return TOKEN_PATTERN.sub("<token>", line)
