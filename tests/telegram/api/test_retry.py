"""RetryingRequest: what is retried, how long it waits, and what is never resent."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest
from telegram.error import BadRequest, NetworkError, RetryAfter, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.telegram.api.retry import RetryingRequest, RetryPolicy, is_unsent, pause_hook
from bot.telegram.api.wire import seconds
from tests.shared import Sleeps

URL = "http://127.0.0.1:1/bot123:TEST/{method}"
OK = (200, b'{"ok":true,"result":true}')


def error(status: int, description: str, **parameters: Any) -> tuple[int, bytes]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, json.dumps(body).encode()


def network_error(cause: BaseException) -> NetworkError:
    """Build the error HTTPXRequest raises for an httpx failure: message and cause."""
    raised = NetworkError(f"httpx.{type(cause).__name__}: {cause}")
    raised.__cause__ = cause
    return raised


class ScriptedTransport(BaseRequest):
    """A transport that plays a script of answers and errors, one per attempt."""

    def __init__(self, *script: tuple[int, bytes] | BaseException) -> None:
        self.script = deque(script)
        self.methods: list[str] = []

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self, url: str, method: str, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        self.methods.append(url.rsplit("/", 1)[-1])
        step = self.script.popleft() if self.script else OK
        if isinstance(step, BaseException):
            raise step
        return step


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


async def call(transport: ScriptedTransport, method: str, sleeps: Sleeps, **policy: Any) -> Any:
    request = RetryingRequest(
        transport, policy=RetryPolicy(**policy), sleep=sleeps, random=lambda: 0.5
    )
    return await request.post(URL.format(method=method), RequestData([]))


async def test_a_5xx_then_success_is_retried_for_an_idempotent_method(sleeps: Sleeps) -> None:
    transport = ScriptedTransport(error(502, "Bad Gateway"), error(500, "Internal"), OK)

    assert await call(transport, "editMessageText", sleeps) is True

    assert transport.methods == ["editMessageText"] * 3
    assert sleeps.delays == [0.5 * 0.75, 1.0 * 0.75]  # exponential, jitter factor 0.75


async def test_the_pause_before_a_retry_goes_through_the_outbox_hook_when_one_is_set(
    sleeps: Sleeps,
) -> None:
    """The outbox sets `pause_hook` around a plain job, so an urgent result may stop the job
    while it waits to retry (tests/telegram/test_outbox.py)."""
    paused: list[object] = []

    async def hook(waiting: Awaitable[object]) -> object:
        paused.append(waiting)
        return await waiting

    transport = ScriptedTransport(error(502, "Bad Gateway"), OK)
    token = pause_hook.set(hook)
    try:
        assert await call(transport, "editMessageText", sleeps) is True
    finally:
        pause_hook.reset(token)

    assert len(paused) == 1
    assert sleeps.delays == [0.5 * 0.75], "the hook awaits the chain's own sleep"


async def test_backoff_doubles_up_to_the_cap_and_jitter_stays_within_half_to_full() -> None:
    transport = ScriptedTransport(*[error(503, "busy")] * 5)
    delays = Sleeps()
    request = RetryingRequest(
        transport,
        policy=RetryPolicy(attempts=6, base_delay=1, max_delay=4),
        sleep=delays,
        random=lambda: 0.999,
    )

    await request.post(URL.format(method="answerCallbackQuery"), RequestData([]))

    assert [round(delay, 2) for delay in delays.delays] == [1.0, 2.0, 4.0, 4.0, 4.0]


async def test_a_5xx_on_send_message_is_not_resent(sleeps: Sleeps) -> None:
    """Telegram may have delivered the message before failing: a resend would show it twice."""
    transport = ScriptedTransport(error(500, "Internal Server Error"))

    with pytest.raises(NetworkError):
        await call(transport, "sendMessage", sleeps)

    assert transport.methods == ["sendMessage"]
    assert sleeps.delays == []


async def test_a_read_timeout_on_send_message_is_not_resent(sleeps: Sleeps) -> None:
    transport = ScriptedTransport(TimedOut())

    with pytest.raises(TimedOut):
        await call(transport, "sendMessage", sleeps)

    assert transport.methods == ["sendMessage"]


async def test_timeouts_of_an_idempotent_method_are_retried(sleeps: Sleeps) -> None:
    transport = ScriptedTransport(TimedOut(), TimedOut(), OK)

    assert await call(transport, "answerCallbackQuery", sleeps) is True

    assert len(transport.methods) == 3


async def test_a_refused_connection_is_resent_even_for_send_message(sleeps: Sleeps) -> None:
    """Nothing reached the server, so nothing can have been delivered."""
    refused = network_error(httpx.ConnectError("[Errno 111] Connection refused"))
    transport = ScriptedTransport(refused, OK)

    assert await call(transport, "sendMessage", sleeps) is True

    assert transport.methods == ["sendMessage", "sendMessage"]


async def test_a_reset_after_sending_is_not_resent_for_send_message(sleeps: Sleeps) -> None:
    reset = network_error(httpx.ReadError("[Errno 104] Connection reset by peer"))
    transport = ScriptedTransport(reset)

    with pytest.raises(NetworkError):
        await call(transport, "sendMessage", sleeps)


async def test_a_reset_is_retried_for_an_idempotent_method(sleeps: Sleeps) -> None:
    reset = network_error(httpx.ReadError("[Errno 104] Connection reset by peer"))
    transport = ScriptedTransport(reset, reset, OK)

    assert await call(transport, "editMessageReplyMarkup", sleeps) is True


@pytest.mark.parametrize(
    "raised",
    [
        network_error(httpx.ConnectError("refused")),
        TimedOut("Pool timeout: All connections in the connection pool are occupied."),
        NetworkError("aiohttp.ClientConnectorError: Cannot connect to host"),
    ],
    ids=["httpx-connect", "pool", "aiohttp-connect-message"],
)
def test_errors_raised_before_sending_are_recognised(raised: BaseException) -> None:
    assert is_unsent(raised)


@pytest.mark.parametrize(
    "raised",
    [TimedOut(), network_error(httpx.ReadTimeout("read")), NetworkError("Bad Gateway")],
    ids=["timeout", "read-timeout", "bad-gateway"],
)
def test_errors_that_may_come_after_sending_are_not_unsent(raised: BaseException) -> None:
    assert not is_unsent(raised)


async def test_429_waits_retry_after_then_resends_even_send_message(sleeps: Sleeps) -> None:
    """A 429 means the server refused the call, so resending cannot double it."""
    transport = ScriptedTransport(error(429, "Too Many Requests: retry after 7", retry_after=7))

    assert await call(transport, "sendMessage", sleeps) is True

    assert sleeps.delays == [7.0]
    assert transport.methods == ["sendMessage", "sendMessage"]


async def test_a_429_longer_than_the_policy_allows_fails_with_retry_after(sleeps: Sleeps) -> None:
    transport = ScriptedTransport(error(429, "Too Many Requests", retry_after=600))

    with pytest.raises(RetryAfter) as raised:
        await call(transport, "sendMessage", sleeps, max_flood_wait=30)

    assert sleeps.delays == []
    assert seconds(raised.value.retry_after) == 600  # a timedelta under PTB_TIMEDELTA=1


def test_seconds_takes_both_forms_of_retry_after() -> None:
    from datetime import timedelta

    assert seconds(5) == 5.0
    assert seconds(timedelta(seconds=2.5)) == 2.5


async def test_attempts_are_bounded(sleeps: Sleeps) -> None:
    transport = ScriptedTransport(*[error(502, "Bad Gateway")] * 10)

    with pytest.raises(NetworkError):
        await call(transport, "getUpdates", sleeps, attempts=3)

    assert len(transport.methods) == 3


async def test_an_expired_callback_query_counts_as_answered(sleeps: Sleeps) -> None:
    old = error(
        400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    transport = ScriptedTransport(old)

    assert await call(transport, "answerCallbackQuery", sleeps) is True


async def test_other_bad_requests_pass_through_unretried(sleeps: Sleeps) -> None:
    transport = ScriptedTransport(error(400, "Bad Request: message is not modified"))

    with pytest.raises(BadRequest, match="not modified"):
        await call(transport, "editMessageText", sleeps)

    assert len(transport.methods) == 1


async def test_a_repeated_delete_that_finds_nothing_succeeded_the_first_time(
    sleeps: Sleeps,
) -> None:
    gone = error(400, "Bad Request: message to delete not found")
    transport = ScriptedTransport(TimedOut(), gone)

    assert await call(transport, "deleteMessage", sleeps) is True
