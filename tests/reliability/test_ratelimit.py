"""RateLimiter: never more than one message per second per chat, nor over the bot's total.

A fake clock moves only when the limiter sleeps, so the tests check the spacing of every start
exactly and take no real time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import random
from typing import Any

import pytest
from telegram.request import BaseRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram.ratelimit import ChatLocks, RateLimitedRequest, RateLimiter, is_paced


class FakeTime:
    """Virtual time: sleepers wake in deadline order; time jumps once every task is waiting.

    `run(coroutine)` drives it: it lets ready tasks run, then advances the clock to the earliest
    deadline and wakes that sleeper, until the coroutine is done.
    """

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), next(self._order), wake))
        await wake

    async def run(self, coroutine: Any) -> Any:
        task = asyncio.ensure_future(coroutine)
        while not task.done():
            for _ in range(50):  # let every ready task reach its next sleep
                await asyncio.sleep(0)
            if self._sleepers and not task.done():
                at, _, wake = heapq.heappop(self._sleepers)
                self.now = max(self.now, at)
                wake.set_result(None)
        return task.result()


class RecordingTransport(BaseRequest):
    """Records (time, method, chat) of every call; each call takes `latency` fake seconds."""

    def __init__(self, time: FakeTime, *, latency: float = 0.0, answers: list[Any] | None = None):
        self.time = time
        self.latency = latency
        self.answers = answers or []
        self.starts: list[tuple[float, str, Any]] = []

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        chat = request_data.parameters.get("chat_id") if request_data else None
        self.starts.append((self.time.now, url.rsplit("/", 1)[-1], chat))
        if self.latency:
            await self.time.sleep(self.latency)
        if self.answers:
            return self.answers.pop(0)  # type: ignore[no-any-return]
        return 200, b'{"ok":true,"result":true}'


def data(chat_id: int) -> RequestData:
    return RequestData(
        [
            RequestParameter.from_input("chat_id", chat_id),
            RequestParameter.from_input("text", "hi"),
        ]
    )


def per_chat_gaps(starts: list[tuple[float, str, Any]]) -> list[float]:
    last: dict[Any, float] = {}
    gaps = []
    for at, _, chat in starts:
        if chat in last:
            gaps.append(at - last[chat])
        last[chat] = at
    return gaps


def max_in_any_window(times: list[float], window: float = 1.0) -> int:
    times = sorted(times)
    return max(
        sum(1 for other in times if start <= other < start + window - 1e-9) for start in times
    )


def test_only_message_methods_are_paced() -> None:
    assert is_paced("sendMessage")
    assert is_paced("editMessageText")
    assert not is_paced("answerCallbackQuery")
    assert not is_paced("getUpdates")
    assert not is_paced("sendChatAction")


async def test_one_chat_never_gets_more_than_one_message_per_second() -> None:
    time = FakeTime()
    limiter = RateLimiter(per_second=30, per_chat=1, clock=time.clock, sleep=time.sleep)
    transport = RecordingTransport(time, latency=0.05)
    request = RateLimitedRequest(transport, limiter)

    await time.run(
        asyncio.gather(*(request.post("http://x/bot1:T/sendMessage", data(7)) for _ in range(10)))
    )

    assert len(transport.starts) == 10
    # Spacing is measured from the end of the previous call: at least 1 s plus its latency.
    assert min(per_chat_gaps(transport.starts)) >= 1.0


async def test_many_chats_stay_under_the_total_rate_and_each_under_its_own() -> None:
    time = FakeTime()
    limiter = RateLimiter(per_second=28, per_chat=1, clock=time.clock, sleep=time.sleep)
    transport = RecordingTransport(time, latency=0.01)
    request = RateLimitedRequest(transport, limiter)
    rng = random.Random(4)  # noqa: S311 - a seeded workload, not a secret
    chats = [rng.randrange(50) for _ in range(400)]

    await time.run(
        asyncio.gather(
            *(request.post("http://x/bot1:T/editMessageText", data(chat)) for chat in chats)
        )
    )

    starts = [at for at, _, _ in transport.starts]
    assert len(starts) == 400
    assert max_in_any_window(starts) <= 28
    assert min(per_chat_gaps(transport.starts)) >= 1.0


async def test_answers_to_button_presses_are_never_delayed() -> None:
    time = FakeTime()
    limiter = RateLimiter(per_second=1, per_chat=1, clock=time.clock, sleep=time.sleep)
    transport = RecordingTransport(time)
    request = RateLimitedRequest(transport, limiter)

    for _ in range(5):
        await request.post("http://x/bot1:T/answerCallbackQuery", RequestData([]))

    assert {at for at, _, _ in transport.starts} == {1000.0}


async def test_a_429_holds_the_chat_back_for_retry_after() -> None:
    time = FakeTime()
    limiter = RateLimiter(per_second=30, per_chat=1, clock=time.clock, sleep=time.sleep)
    flood = {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests",
        "parameters": {"retry_after": 5},
    }
    transport = RecordingTransport(time, answers=[(429, json.dumps(flood).encode())])
    request = RateLimitedRequest(transport, limiter)

    url = "http://x/bot1:T/sendMessage"
    status, _ = await time.run(request.do_request(url, "POST", data(3)))
    await time.run(request.do_request(url, "POST", data(3)))

    assert status == 429
    assert transport.starts[1][0] - transport.starts[0][0] >= 5.0


async def test_a_zero_rate_turns_the_limits_off() -> None:
    time = FakeTime()
    limiter = RateLimiter(per_second=0, per_chat=0, clock=time.clock, sleep=time.sleep)
    transport = RecordingTransport(time)
    request = RateLimitedRequest(transport, limiter)

    for _ in range(5):
        await request.post("http://x/bot1:T/sendMessage", data(1))

    assert {at for at, _, _ in transport.starts} == {1000.0}


async def test_a_task_cancelled_while_waiting_for_its_chat_is_forgotten() -> None:
    """Otherwise every cancelled send would leave its chat's lock in the table for ever."""
    locks = ChatLocks()
    await locks.acquire(1)
    waiter = asyncio.ensure_future(locks.acquire(1))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    locks.release(1)

    assert len(locks) == 0
