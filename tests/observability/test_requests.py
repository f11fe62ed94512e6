"""Retries and give-ups of Bot API calls on /metrics, by method and reason, and nothing else.

The observed Application sends through `RetryingRequest` (with a sleep that only records) over
the fake Bot API; `Observer.attach` hooks the retry counters into it, as in the deployed chains.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from telegram.error import RetryAfter, TimedOut

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.observability.metrics import OTHER, Metrics
from bot.observability.observer import Observer
from bot.observability.requests import RetryCounters, retrying_requests
from bot.store.memory import MemoryStore
from bot.store.sqlite import SqliteStore
from bot.telegram.api.retry import REASONS, RetryEvent, RetryingRequest
from bot.telegram.app import AnyApplication, build_application
from tests.fakes.botapi import FakeBotApi
from tests.observability.conftest import CHAT_ID
from tests.observability.helpers import assert_labels_fixed, sample
from tests.shared import Sleeps, running

RETRIES = "crampcheck_bot_api_call_retries_total"
GIVE_UPS = "crampcheck_bot_api_give_ups_total"
FREE_TEXT = "cramps since the Zugspitze ultra, canary-91bd"


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def retrying_app(
    settings: Settings,
    kb: KnowledgeBase,
    sqlite_store: SqliteStore,
    api: FakeBotApi,
    observer: Observer,
    sleeps: Sleeps,
) -> AsyncIterator[AnyApplication]:
    """The observed Application on the fake, its calls going through a `RetryingRequest`."""
    api.register_chat(CHAT_ID, first_name="Alex")
    request = RetryingRequest(api, sleep=sleeps)
    application = build_application(settings, kb, sqlite_store, request=request, observer=observer)
    async with running(application):
        yield application


async def metrics_page(observer: Observer) -> str:
    """GET /metrics from the observer's routes over loopback HTTP; return the text."""
    server = web.Application()
    server.add_routes(observer.routes())
    async with TestClient(TestServer(server, host="127.0.0.1")) as client:
        response = await client.get("/metrics")
        assert response.status == 200
        return await response.text()


def page_value(page: str, name: str, *, method: str, reason: str) -> str:
    """Return the value written for one series in the metrics text ("" when it is missing)."""
    prefix = f'{name}{{method="{method}",reason="{reason}"}} '
    lines = [line for line in page.splitlines() if line.startswith(prefix)]
    return lines[0].removeprefix(prefix) if lines else ""


@pytest.mark.usefixtures("real_network")
async def test_a_429_then_success_shows_one_flood_wait_retry_on_the_metrics_page(
    retrying_app: AnyApplication, api: FakeBotApi, observer: Observer, sleeps: Sleeps
) -> None:
    api.fail_next("sendMessage", status=429, retry_after=3)

    await retrying_app.bot.send_message(CHAT_ID, FREE_TEXT)

    page = await metrics_page(observer)
    assert page_value(page, RETRIES, method="sendMessage", reason="flood_wait") == "1.0"
    assert page_value(page, GIVE_UPS, method="sendMessage", reason="flood_wait") == "0.0"
    assert sleeps.delays == [3.0]
    assert len(api.calls_to("sendMessage")) == 2


@pytest.mark.parametrize(
    ("fault", "reason"), [(502, "server_error"), (503, "server_error"), ("timeout", "timeout")]
)
async def test_a_failed_idempotent_call_is_retried_and_counted_by_reason(
    retrying_app: AnyApplication,
    api: FakeBotApi,
    metrics: Metrics,
    fault: int | Literal["timeout"],
    reason: str,
) -> None:
    query_id = api.new_callback_query_id()
    api.fail_next("answerCallbackQuery", status=fault)

    assert await retrying_app.bot.answer_callback_query(query_id) is True

    assert sample(metrics, RETRIES, method="answerCallbackQuery", reason=reason) == 1
    assert sample(metrics, GIVE_UPS, method="answerCallbackQuery", reason=reason) == 0
    assert api.answered_callback_queries == [query_id]


async def test_a_call_failing_on_its_last_attempt_is_one_give_up_after_its_retries(
    retrying_app: AnyApplication, api: FakeBotApi, metrics: Metrics
) -> None:
    api.fail_next("answerCallbackQuery", status=503, times=4)  # the policy's four attempts

    # The bot drops an answer that still fails (CrampBot.answer_callback_query); it is counted.
    assert await retrying_app.bot.answer_callback_query(api.new_callback_query_id()) is False

    assert sample(metrics, RETRIES, method="answerCallbackQuery", reason="server_error") == 3
    assert sample(metrics, GIVE_UPS, method="answerCallbackQuery", reason="server_error") == 1


async def test_a_flood_wait_too_long_to_sit_out_is_a_give_up_without_a_retry(
    retrying_app: AnyApplication, api: FakeBotApi, metrics: Metrics, sleeps: Sleeps
) -> None:
    api.fail_next("sendMessage", status=429, retry_after=600)

    with pytest.raises(RetryAfter):
        await retrying_app.bot.send_message(CHAT_ID, FREE_TEXT)

    assert sample(metrics, GIVE_UPS, method="sendMessage", reason="flood_wait") == 1
    assert sample(metrics, RETRIES, method="sendMessage", reason="flood_wait") == 0
    assert sleeps.delays == []


async def test_a_send_that_times_out_is_an_error_but_neither_a_retry_nor_a_give_up(
    retrying_app: AnyApplication, api: FakeBotApi, metrics: Metrics
) -> None:
    """A timed-out send may have been delivered, so it is never resent: nothing was given up."""
    api.fail_next("sendMessage", status="timeout")

    with pytest.raises(TimedOut):
        await retrying_app.bot.send_message(CHAT_ID, FREE_TEXT)

    assert sample(metrics, "crampcheck_bot_api_errors_total", kind="timeout") == 1
    for reason in REASONS:
        assert sample(metrics, RETRIES, method="sendMessage", reason=reason) == 0, reason
        assert sample(metrics, GIVE_UPS, method="sendMessage", reason=reason) == 0, reason


async def test_retry_metrics_hold_no_chat_id_or_text(
    retrying_app: AnyApplication, api: FakeBotApi, metrics: Metrics, kb: KnowledgeBase
) -> None:
    """Retried calls carry a chat id and a user's words; neither may reach a label."""
    api.fail_next("sendMessage", status=429, times=2)
    api.fail_next("answerCallbackQuery", status=502)
    await retrying_app.bot.send_message(CHAT_ID, FREE_TEXT)
    await retrying_app.bot.answer_callback_query(api.new_callback_query_id(), text=FREE_TEXT)

    text = metrics.render().decode()
    assert sample(metrics, RETRIES, method="sendMessage", reason="flood_wait") == 2
    assert sample(metrics, RETRIES, method="answerCallbackQuery", reason="server_error") == 1
    assert str(CHAT_ID) not in text
    assert "canary-91bd" not in text
    assert "Zugspitze" not in text
    assert_labels_fixed(text, kb)


def test_a_method_outside_the_fixed_set_is_counted_as_other() -> None:
    registry = CollectorRegistry()
    counters = RetryCounters(registry)

    counters.record(RetryEvent("banChatMember", "network", 1, "retry"))
    counters.record(RetryEvent("sendMessage", "-100123", 2, "give_up"))

    assert registry.get_sample_value(RETRIES, {"method": OTHER, "reason": "network"}) == 1
    assert registry.get_sample_value(GIVE_UPS, {"method": "sendMessage", "reason": OTHER}) == 1


async def test_attaching_twice_still_counts_each_retry_once(
    retrying_app: AnyApplication, api: FakeBotApi, observer: Observer, metrics: Metrics
) -> None:
    assert observer.retries.watch(retrying_app.bot) == 1  # calls and getUpdates share it here
    api.fail_next("sendMessage", status=429)

    await retrying_app.bot.send_message(CHAT_ID, "hello")

    assert sample(metrics, RETRIES, method="sendMessage", reason="flood_wait") == 1


def test_both_deployed_request_chains_report_retries_to_the_observer(
    settings: Settings, kb: KnowledgeBase
) -> None:
    """The bot's calls and getUpdates each have a retrying chain (api/chain.py); both count."""
    observer = Observer(settings, kb)
    app = build_application(settings, kb, MemoryStore(), observer=observer)

    hooks = [request.on_retry for request in retrying_requests(app.bot)]

    assert hooks == [[observer.retries.record], [observer.retries.record]]
