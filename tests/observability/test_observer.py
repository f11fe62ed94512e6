"""Metrics of a bot in use: updates by kind, handler latency, results, store latency, privacy.

A user plays a whole questionnaire on the real Application (SQLite file, fake Bot API); the
metrics text rendered afterwards must count it and must hold no id, answer or typed text.
"""

from __future__ import annotations

import time

from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire import machine
from bot.observability.metrics import NO_CAUSE, Metrics
from bot.observability.observer import Observer
from bot.store.base import SessionKey
from bot.store.sqlite import SqliteStore
from bot.telegram.state.conversation import Conversation
from tests.fakes.driver import ChatDriver
from tests.observability.conftest import CHAT_ID
from tests.observability.helpers import assert_labels_fixed, sample
from tests.shared import REPO
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
    assert_labels_fixed(text, kb)


def test_every_metric_is_listed_in_the_deploy_guide(observer: Observer) -> None:
    """docs/deploy.md lists the metrics an operator can scrape; a new one must be added there."""
    guide = (REPO / "docs" / "deploy.md").read_text(encoding="utf-8")
    names = {family.name for family in observer.metrics.registry.collect()}

    assert "crampcheck_bot_api_give_ups" in names
    assert sorted(name for name in names if f"| `{name}" not in guide) == []
