"""Reading metrics in the operations tests: one sample, and the check that labels stay fixed."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.engine.kb.models import KnowledgeBase
from bot.observability.metrics import (
    API_ERROR_KINDS,
    NO_CAUSE,
    OTHER,
    OUTCOMES,
    STORE_ERROR_KINDS,
    STORE_OPERATIONS,
    UPDATE_KINDS,
    Metrics,
)
from bot.observability.requests import METHODS
from bot.telegram.api.retry import REASONS


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    """Return the value of one sample, 0 when the series does not exist."""
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def allowed_labels(kb: KnowledgeBase) -> dict[str, set[str]]:
    """Every label name the bot may use, with every value it may take (fixed, never input)."""
    return {
        "kind": {*UPDATE_KINDS, *API_ERROR_KINDS, *STORE_ERROR_KINDS},
        "outcome": set(OUTCOMES),
        "level": {*kb.levels, OTHER},
        "cause": {*(cause.id for cause in kb.causes), NO_CAUSE, OTHER},
        "operation": {*STORE_OPERATIONS, OTHER},
        "method": set(METHODS),
        "reason": set(REASONS),
        "version": {__version__},
        "knowledge_base": {kb.version},
    }


def assert_labels_fixed(text: str, kb: KnowledgeBase) -> None:
    """Fail unless every label name and value in the metrics `text` is one of `allowed_labels`."""
    allowed = allowed_labels(kb)
    for family in text_string_to_metric_families(text):
        for one in family.samples:
            for name, value in one.labels.items():
                if name == "le":  # histogram bucket bounds
                    float(value)
                    continue
                assert name in allowed, f"unexpected label {name} on {family.name}"
                assert value in allowed[name], f"{family.name}{{{name}={value!r}}}"
