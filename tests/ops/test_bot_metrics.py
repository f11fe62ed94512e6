"""Metrics of a bot in use: updates by kind, handler latency, results, store latency, privacy.

A user plays a whole questionnaire on the real Application (SQLite file, fake Bot API); the
metrics text rendered afterwards must count it and must hold no id, answer or typed text.
"""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from bot import __version__
from bot.engine import machine
from bot.engine.models import KnowledgeBase
from bot.observability import (
    API_ERROR_KINDS,
    NO_CAUSE,
    OTHER,
    OUTCOMES,
    STORE_ERROR_KINDS,
    STORE_OPERATIONS,
    UPDATE_KINDS,
    Metrics,
)
from bot.store.base import SessionKey
from bot.store.sqlite import SqliteStore
from bot.telegram.conversation import Conversation
from tests.fakes.driver import ChatDriver
from tests.ops.conftest import CHAT_ID
from tests.telegram.helpers import feed, user_message

FREE_TEXT = "my calf hurts after the Zugspitze ultra, canary-7f3a"
MAX_PRESSES = 80
TOP_CAUSES = "crampcheck_result_top_causes_total"


async def play_to_result(driver: ChatDriver, kb: KnowledgeBase) -> None:
    """Press the first option of each question (none of a checklist) until a result shows."""
    for _ in range(MAX_PRESSES):
        buttons = driver.current_buttons()
        if {kb.text("why", "en"), kb.text("restart", "en")} <= set(buttons):
            return
        none = kb.text("none_of_these", "en")
        await driver.press(none if none in buttons else 0)
    raise AssertionError(f"no result after {MAX_PRESSES} presses:\n{driver.screen()}")


def sample(metrics: Metrics, name: str, **labels: str) -> float:
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
        "version": {__version__},
        "knowledge_base": {kb.version},
    }


def results(metrics: Metrics, kb: KnowledgeBase) -> float:
    return sum(sample(metrics, "crampcheck_results_total", level=level) for level in kb.levels)


async def test_a_full_questionnaire_is_counted_by_kind_level_and_store_operation(
    observed_driver: ChatDriver, metrics: Metrics, kb: KnowledgeBase
) -> None:
    await observed_driver.send("/start")
    await observed_driver.send(FREE_TEXT)
    await play_to_result(observed_driver, kb)

    presses = observed_driver.presses
    causes = (*(cause.id for cause in kb.causes), NO_CAUSE)
    assert sample(metrics, "crampcheck_updates_total", kind="message", outcome="ok") == 2
    assert sample(metrics, "crampcheck_updates_total", kind="callback", outcome="ok") == presses
    assert sample(metrics, "crampcheck_handler_seconds_count", kind="callback") == presses
    assert results(metrics, kb) == 1
    assert sum(sample(metrics, TOP_CAUSES, cause=cause) for cause in causes) == 1
    assert sample(metrics, "crampcheck_store_seconds_count", operation="put") >= presses
    assert sample(metrics, "crampcheck_store_seconds_count", operation="get") >= presses
    assert sample(metrics, "crampcheck_bot_api_requests_total") > presses
    assert sample(metrics, "crampcheck_bot_api_errors_total", kind="bad_request") == 0


async def test_the_result_is_counted_under_its_level_and_top_cause(
    observed_driver: ChatDriver, metrics: Metrics, kb: KnowledgeBase, sqlite_store: SqliteStore
) -> None:
    await observed_driver.send("/start")
    await play_to_result(observed_driver, kb)

    record = await sqlite_store.get(SessionKey(CHAT_ID, CHAT_ID))
    assert record is not None
    result = machine.current_step(kb, Conversation.load(record.data).session)
    assert isinstance(result, machine.Result)
    top = result.causes[0].cause if result.causes else NO_CAUSE
    assert sample(metrics, "crampcheck_results_total", level=result.level.code) == 1
    assert sample(metrics, TOP_CAUSES, cause=top) == 1


async def test_redrawing_a_result_in_another_language_does_not_count_it_again(
    observed_driver: ChatDriver, metrics: Metrics, kb: KnowledgeBase
) -> None:
    await observed_driver.send("/start")
    await play_to_result(observed_driver, kb)
    await observed_driver.send("/language")
    await observed_driver.press(1)  # the second language offered

    assert results(metrics, kb) == 1


async def test_an_edited_message_counts_as_edited(
    observed_driver: ChatDriver, metrics: Metrics
) -> None:
    edited = user_message(observed_driver, text=FREE_TEXT, edit_date=int(time.time()))
    await feed(observed_driver, "edited_message", edited)

    assert sample(metrics, "crampcheck_updates_total", kind="edited", outcome="ok") == 1


async def test_metrics_hold_no_id_answer_or_text_after_a_full_questionnaire(
    observed_driver: ChatDriver, metrics: Metrics, kb: KnowledgeBase
) -> None:
    """Every label value must come from a fixed set; ids and typed text appear nowhere."""
    await observed_driver.send("/start")
    await observed_driver.send(FREE_TEXT)
    await play_to_result(observed_driver, kb)
    edited = user_message(observed_driver, text=FREE_TEXT, edit_date=int(time.time()))
    await feed(observed_driver, "edited_message", edited)

    text = metrics.render().decode()
    assert str(CHAT_ID) not in text
    assert "canary-7f3a" not in text
    assert "Zugspitze" not in text
    allowed = allowed_labels(kb)
    for family in text_string_to_metric_families(text):
        for one in family.samples:
            for name, value in one.labels.items():
                if name == "le":  # histogram bucket bounds
                    float(value)
                    continue
                assert name in allowed, f"unexpected label {name} on {family.name}"
                assert value in allowed[name], f"{family.name}{{{name}={value!r}}}"
