"""The instruments one by one: metrics labels, the store wrapper, the Bot API request counter."""

from __future__ import annotations

import inspect

import pytest
from telegram import Bot, Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.engine.errors import ConflictError
from bot.engine.kb.models import KnowledgeBase
from bot.observability.metrics import OTHER, Metrics, pick
from bot.observability.requests import CountingRequest, status_kind
from bot.observability.timed_store import InstrumentedStore
from bot.observability.update_timer import update_kind
from bot.store.base import SessionKey, SessionStore
from bot.store.sqlite import SqliteStore
from tests.conftest import TOKEN
from tests.fakes.botapi import FakeBotApi
from tests.observability.helpers import sample

KEY = SessionKey(chat_id=11, user_id=11)


def test_two_metrics_objects_never_share_counts(kb: KnowledgeBase) -> None:
    first, second = Metrics(kb), Metrics(kb)
    first.record_api_error("flood")

    assert sample(first, "crampcheck_bot_api_errors_total", kind="flood") == 1
    assert sample(second, "crampcheck_bot_api_errors_total", kind="flood") == 0


def test_a_label_outside_its_fixed_set_is_counted_as_other(metrics: Metrics) -> None:
    metrics.record_update("4242-chat", seconds=0.1, is_error=False)
    metrics.record_store("drop_table", seconds=0.1, error="boom")

    assert pick("4242", ("message",)) == OTHER
    assert sample(metrics, "crampcheck_updates_total", kind=OTHER, outcome="ok") == 1
    assert sample(metrics, "crampcheck_store_errors_total", operation=OTHER, kind=OTHER) == 1
    # Every line but its value: a _created timestamp may hold the digits 4242 by chance.
    series = [line.rpartition(" ")[0] for line in metrics.render().decode().splitlines()]
    assert not [line for line in series if "4242" in line]


def test_update_kind_reads_only_which_field_is_set() -> None:
    chat = {"id": 1, "type": "private"}
    message = {"message_id": 1, "date": 0, "chat": chat, "text": "hi"}
    query = {
        "id": "q",
        "from": {"id": 1, "is_bot": False, "first_name": "A"},
        "chat_instance": "c",
    }
    kinds = [
        update_kind(Update.de_json({"update_id": 1, field: payload}, None))
        for field, payload in (
            ("message", message),
            ("callback_query", query),
            ("edited_message", message | {"edit_date": 1}),
            ("channel_post", message | {"chat": {"id": -1, "type": "channel"}}),
        )
    ]
    assert kinds == ["message", "callback", "edited", "other"]


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, None), (400, "bad_request"), (403, "forbidden"), (429, "flood"), (502, "server")],
)
def test_status_kind_names_each_bot_api_failure(status: int, kind: str | None) -> None:
    assert status_kind(status) == kind


def test_instrumented_store_has_every_method_of_the_store_protocol() -> None:
    """A method added to SessionStore must be forwarded, or the wrapper silently lacks it."""
    wanted = {name for name in vars(SessionStore) if not name.startswith("_")}
    assert wanted <= set(vars(InstrumentedStore))


async def test_instrumented_store_times_each_call_and_counts_conflicts(
    sqlite_store: SqliteStore, metrics: Metrics
) -> None:
    store = InstrumentedStore(sqlite_store, metrics)
    await store.put(KEY, "{}", expected_revision=0)
    await store.get(KEY)
    with pytest.raises(ConflictError):
        await store.put(KEY, "{}", expected_revision=0)
    assert [keyed async for keyed in store.scan("sess")] != []
    await store.delete_user(KEY.user_id)

    for operation, count in (("put", 2), ("get", 1), ("scan", 1), ("delete_user", 1)):
        seconds = "crampcheck_store_seconds_count"
        assert sample(metrics, seconds, operation=operation) == count, operation
    assert sample(metrics, "crampcheck_store_errors_total", operation="put", kind="conflict") == 1
    assert await sqlite_store.get(KEY) is None


class RetryOnce(BaseRequest):
    """A stand-in for a retry wrapper: sends a failed request once more, the same RequestData."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        *_: object,
        **timeouts: object,
    ) -> tuple[int, bytes]:
        try:
            status, body = await self.inner.do_request(url, method, request_data)
        except NetworkError:
            return await self.inner.do_request(url, method, request_data)
        if status >= 500 or status == 429:
            return await self.inner.do_request(url, method, request_data)
        return status, body


async def test_bot_api_errors_are_counted_by_kind(api: FakeBotApi, metrics: Metrics) -> None:
    api.register_chat(5, first_name="A")
    bot = Bot(TOKEN, request=CountingRequest(api, metrics))
    async with bot:
        api.fail_next("sendMessage", status=400, description="Bad Request: chat not found")
        with pytest.raises(BadRequest):
            await bot.send_message(5, "hello")
        api.fail_next("sendMessage", status=429)
        with pytest.raises(RetryAfter):
            await bot.send_message(5, "hello")
        api.fail_next("sendMessage", status="timeout")
        with pytest.raises(TimedOut):
            await bot.send_message(5, "hello")
        await bot.send_message(5, "hello")

    for kind in ("bad_request", "flood", "timeout"):
        assert sample(metrics, "crampcheck_bot_api_errors_total", kind=kind) == 1, kind
    assert sample(metrics, "crampcheck_bot_api_retries_total", kind="flood") == 0
    assert sample(metrics, "crampcheck_bot_api_requests_total") == 5  # getMe and four sends


async def test_a_retry_wrapper_outside_the_counter_has_its_retries_counted(
    api: FakeBotApi, metrics: Metrics
) -> None:
    api.register_chat(5, first_name="A")
    bot = Bot(TOKEN, request=RetryOnce(CountingRequest(api, metrics)))
    async with bot:
        api.fail_next("sendMessage", status=502)
        await bot.send_message(5, "hello")
        api.fail_next("sendMessage", status="timeout")
        await bot.send_message(5, "again")

    assert sample(metrics, "crampcheck_bot_api_retries_total", kind="server") == 1
    assert sample(metrics, "crampcheck_bot_api_retries_total", kind="timeout") == 1
    assert [call.params["text"] for call in api.calls_to("sendMessage")][-1] == "again"


def test_counting_request_forwards_every_method_of_base_request() -> None:
    abstract = {name for name, _ in inspect.getmembers(BaseRequest) if name.startswith("do_")}
    assert abstract <= set(vars(CountingRequest))
