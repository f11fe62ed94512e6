"""RateLimiter: each chat within its token bucket (a short burst, then 1/s), the bot in its total.

A fake clock moves only when the limiter sleeps, so the tests check every start exactly and take
no real time. `bucket_violations`, which the harnesses use to judge the sends they see, is tested
here too.
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

# RequestData is made of these; PTB has no public way to build one.
from telegram.request._requestparameter import RequestParameter

from bot.telegram.api.pacing.limiter import (
    PRUNE_EVERY,
    RateLimitedRequest,
    RateLimiter,
    bucket_violations,
    is_paced,
    over_limit,
)


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


SEND = "http://x/bot1:T/sendMessage"


def data(chat_id: int) -> RequestData:
    return RequestData(
        [
            RequestParameter.from_input("chat_id", chat_id),
            RequestParameter.from_input("text", "hi"),
        ]
    )


def limited(
    time: FakeTime,
    *,
    per_second: float = 30,
    per_chat: float = 1,
    burst: int = 3,
    **transport: Any,
) -> tuple[RateLimitedRequest, RecordingTransport]:
    """Return a request chain with a fake-time limiter, and the transport that records starts."""
    limiter = RateLimiter(
        per_second=per_second, per_chat=per_chat, burst=burst, clock=time.clock, sleep=time.sleep
    )
    recorder = RecordingTransport(time, **transport)
    return RateLimitedRequest(recorder, limiter), recorder


def flood(retry_after: float) -> tuple[int, bytes]:
    body = {"ok": False, "error_code": 429, "parameters": {"retry_after": retry_after}}
    return 429, json.dumps(body).encode()


def chat_starts(starts: list[tuple[float, str, Any]]) -> dict[Any, list[float]]:
    by_chat: dict[Any, list[float]] = {}
    for at, _, chat in starts:
        by_chat.setdefault(chat, []).append(at)
    return by_chat


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


def test_the_bucket_check_flags_a_fourth_send_in_the_same_instant() -> None:
    assert bucket_violations([5.0] * 4, rate=1, burst=3) == 1
    assert bucket_violations([5.0] * 3, rate=1, burst=3) == 0
    assert bucket_violations([5.0] * 6, rate=1, burst=3) == 3


def test_the_bucket_check_accepts_a_burst_then_one_per_second() -> None:
    assert bucket_violations([0, 0, 0, 1, 2, 3, 4], rate=1, burst=3) == 0
    assert bucket_violations([0, 0, 0, 1, 1.5], rate=1, burst=3) == 1
    # A bucket refills: three more after three idle seconds, in any order given.
    assert bucket_violations([10, 0, 0, 10, 0, 10], rate=1, burst=3) == 0
    assert bucket_violations([0, 0.5, 1.5], rate=2, burst=1) == 0


def test_a_refused_send_takes_no_token_and_slack_forgives_rounding() -> None:
    # One early send counts once; the sends after it are judged without it.
    assert bucket_violations([0, 0, 0, 0.5, 1, 2], rate=1, burst=3) == 1
    assert bucket_violations([0, 0.9995], rate=1, burst=1) == 0  # within the default 1 ms
    assert bucket_violations([0, 0.9995], rate=1, burst=1, slack=0) == 1
    assert bucket_violations([0, 0, 0], rate=0, burst=1) == 0  # no limit


async def test_a_burst_goes_out_at_once_and_the_next_send_waits_a_token() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=0, per_chat=2, burst=3)

    await time.run(asyncio.gather(*(request.post(SEND, data(7)) for _ in range(5))))

    assert [at for at, _, _ in transport.starts] == [1000.0, 1000.0, 1000.0, 1000.5, 1001.0]


async def test_concurrent_callers_of_a_chat_start_in_the_order_they_came() -> None:
    time = FakeTime()
    limiter = RateLimiter(per_second=0, per_chat=1, burst=2, clock=time.clock, sleep=time.sleep)
    started: list[tuple[int, float]] = []

    async def send(n: int) -> None:
        start = await limiter.acquire(1)
        started.append((n, time.now))
        assert start == time.now

    await time.run(asyncio.gather(*(send(n) for n in range(5))))

    assert sorted(started) == [(0, 1000), (1, 1000), (2, 1001), (3, 1002), (4, 1003)]


async def test_a_chat_is_not_held_while_its_call_runs() -> None:
    """The bucket counts starts: a slow call does not delay the chat's next send."""
    time = FakeTime()
    request, transport = limited(time, per_second=0, burst=2, latency=5.0)

    await time.run(asyncio.gather(*(request.post(SEND, data(7)) for _ in range(3))))

    assert [at for at, _, _ in transport.starts] == [1000.0, 1000.0, 1001.0]


async def test_two_chats_do_not_slow_each_other() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=0, per_chat=1, burst=3)

    await time.run(asyncio.gather(*(request.post(SEND, data(chat)) for chat in [1] * 6 + [2] * 4)))

    by_chat = chat_starts(transport.starts)
    assert by_chat[1] == [1000.0, 1000.0, 1000.0, 1001.0, 1002.0, 1003.0]
    assert by_chat[2] == [1000.0, 1000.0, 1000.0, 1001.0]


async def test_a_chat_waiting_for_its_token_does_not_hold_the_bot_back() -> None:
    """Its later start is reserved as an island: the queue of the other chats goes on."""
    time = FakeTime()
    request, transport = limited(time, per_second=10, per_chat=1, burst=1)

    await time.run(asyncio.gather(*(request.post(SEND, data(chat)) for chat in [1, 1, 2, 3, 4])))

    by_chat = chat_starts(transport.starts)
    assert by_chat[1] == [1000.0, 1001.0]
    assert [start for chat in (2, 3, 4) for start in by_chat[chat]] == pytest.approx(
        [1000.1, 1000.2, 1000.3]
    )


async def test_many_chats_stay_under_the_total_rate_and_each_within_its_bucket() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=28, per_chat=1, burst=3, latency=0.01)
    rng = random.Random(4)  # noqa: S311 - a seeded workload, not a secret
    chats = [rng.randrange(50) for _ in range(400)]

    await time.run(asyncio.gather(*(request.post(SEND, data(c)) for c in chats)))

    starts = [at for at, _, _ in transport.starts]
    assert len(starts) == 400
    assert max_in_any_window(starts) <= 28
    assert all(
        bucket_violations(each, rate=1, burst=3, slack=0) == 0
        for each in chat_starts(transport.starts).values()
    )
    # Paced by the total alone: 400 starts 1/28 s apart, not slowed by the chats' waits.
    assert max(starts) - min(starts) < 400 / 28 + 1


async def test_edits_take_no_chat_token_only_a_start_in_the_total() -> None:
    """An answer drawn over the live message never waits behind the chat's new messages."""
    time = FakeTime()
    request, transport = limited(time, per_second=28, per_chat=1, burst=3)
    edit = "http://x/bot1:T/editMessageText"

    await time.run(asyncio.gather(*(request.post(SEND, data(1)) for _ in range(3))))
    await time.run(asyncio.gather(*(request.post(edit, data(1)) for _ in range(5))))

    starts = [at for at, _, _ in transport.starts]
    assert len(starts) == 8
    assert max(starts) - min(starts) < 8 / 28 + 0.01  # the bucket is empty; the edits go on


async def test_chats_in_a_burst_also_keep_the_total_rate() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=5, per_chat=1, burst=3)

    await time.run(asyncio.gather(*(request.post(SEND, data(c)) for c in [1, 1, 1, 1, 2, 2])))

    starts = sorted(at for at, _, _ in transport.starts)
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.2 - 1e-9
    by_chat = chat_starts(transport.starts)
    assert all(bucket_violations(each, rate=1, burst=3) == 0 for each in by_chat.values())


async def test_answers_to_button_presses_are_never_delayed() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=1, per_chat=1, burst=1)

    for _ in range(5):
        await request.post("http://x/bot1:T/answerCallbackQuery", RequestData([]))
        await request.post("http://x/bot1:T/sendChatAction", data(1))

    assert {at for at, _, _ in transport.starts} == {1000.0}


async def test_a_429_empties_the_chats_bucket_until_retry_after() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=0, per_chat=1, burst=3, answers=[flood(5)])

    status, _ = await time.run(request.do_request(SEND, "POST", data(3)))
    await time.run(asyncio.gather(*(request.do_request(SEND, "POST", data(c)) for c in (3, 3, 4))))

    assert status == 429
    by_chat = chat_starts(transport.starts)
    # One token at the end of the flood wait, the next a second later: no burst after a 429.
    assert by_chat[3] == [1000.0, 1005.0, 1006.0]
    assert by_chat[4] == [1000.0]  # the other chats go on


async def test_a_429_without_a_chat_holds_every_chat_back() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=30, per_chat=1, burst=3, answers=[flood(2)])
    inline = RequestData([RequestParameter.from_input("inline_message_id", "m1")])

    await time.run(request.do_request("http://x/bot1:T/editMessageText", "POST", inline))
    await time.run(request.do_request(SEND, "POST", data(9)))

    assert transport.starts[1][0] == 1002.0


async def test_a_zero_rate_turns_the_limits_off() -> None:
    time = FakeTime()
    request, transport = limited(time, per_second=0, per_chat=0, burst=1)

    for _ in range(5):
        await request.post(SEND, data(1))

    assert {at for at, _, _ in transport.starts} == {1000.0}


def test_a_burst_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        RateLimiter(per_second=1, per_chat=1, burst=0)


async def test_chats_with_a_full_bucket_are_forgotten() -> None:
    """Otherwise every chat ever served would stay in the table for ever."""
    time = FakeTime()
    limiter = RateLimiter(per_second=0, per_chat=1, burst=3, clock=time.clock, sleep=time.sleep)
    for chat in range(PRUNE_EVERY - 1):
        await limiter.acquire(chat)
    time.now += 3.0  # every bucket is full again
    await limiter.acquire("last")

    assert len(limiter._full) == 1  # the table itself is what is tested


def urgent_limiter(time: FakeTime, *, per_second: float = 10, burst: int = 3) -> RateLimiter:
    return RateLimiter(
        per_second=per_second, per_chat=1, burst=burst, clock=time.clock, sleep=time.sleep
    )


async def test_an_urgent_result_goes_before_the_other_chats_queued_calls() -> None:
    """Thirty edits queued (2 s of the queue); the emergency screen takes the first start not due
    yet, and each queued call moves on to the next one's start."""
    time = FakeTime()
    limiter = urgent_limiter(time, per_second=15)
    queued = [limiter.reserve(None) for _ in range(30)]
    before = [ticket.start for ticket in queued]

    emergency = limiter.reserve(77, is_urgent=True)

    assert emergency.start == pytest.approx(1000.0 + 1 / 15)  # the first is due: it goes now
    assert queued[0].start == 1000.0
    assert [ticket.start for ticket in queued[1:]] == pytest.approx([*before[2:], 1002.0])


async def test_callers_whose_start_moved_wait_until_the_new_one() -> None:
    time = FakeTime()
    limiter = urgent_limiter(time, per_second=10)
    starts: dict[str, float] = {}

    async def call(name: str, after: float, *, is_urgent: bool = False) -> None:
        await time.sleep(after)
        starts[name] = await limiter.acquire(None, is_urgent=is_urgent)
        assert time.now == pytest.approx(starts[name])  # woke at its start, not the first one

    await time.run(
        asyncio.gather(
            *(call(f"q{n}", 0) for n in range(5)),  # 1000.0 to 1000.4
            call("urgent", 0.05, is_urgent=True),
        )
    )

    assert starts["urgent"] == pytest.approx(1000.1)
    assert [starts[f"q{n}"] for n in range(5)] == pytest.approx(
        [1000.0, 1000.2, 1000.3, 1000.4, 1000.5]
    )


async def test_a_moved_call_moves_its_chats_bucket_with_it() -> None:
    """A chat at the end of its burst queued a send; an urgent call moved it later: the chat's
    next send still finds a token (1 s after the moved start, not the first one)."""
    time = FakeTime()
    limiter = urgent_limiter(time, per_second=10, burst=1)
    limiter.reserve(None)  # 1000.0: due at once
    moved = limiter.reserve(5)  # 1000.1
    limiter.reserve(77, is_urgent=True)  # takes 1000.1; chat 5 moves to 1000.2
    time.now = 1000.15

    after = limiter.reserve(5)

    assert moved.start == pytest.approx(1000.2)
    assert after.start == pytest.approx(1001.2)
    assert bucket_violations([moved.start, after.start], rate=1, burst=1) == 0


async def test_an_urgent_call_still_waits_for_its_chats_token() -> None:
    time = FakeTime()
    limiter = urgent_limiter(time)
    for _ in range(3):
        limiter.reserve(5)

    assert limiter.reserve(5, is_urgent=True).start == pytest.approx(1001.0)


async def test_an_urgent_call_does_not_go_before_its_chats_token() -> None:
    """The queue's first waiting start comes before the chat's token: the urgent call takes the
    first one from its token on."""
    time = FakeTime()
    limiter = urgent_limiter(time, per_second=10, burst=1)
    limiter.reserve(5)  # 1000.0; chat 5's next token at 1001.0
    time.now = 1000.45
    waiting = [limiter.reserve(None) for _ in range(10)]  # 1000.45 to 1001.35
    before = [ticket.start for ticket in waiting]

    urgent = limiter.reserve(5, is_urgent=True)

    assert urgent.start == pytest.approx(1001.05)
    assert [ticket.start for ticket in waiting[:6]] == before[:6]  # before the token: stay
    assert [ticket.start for ticket in waiting[6:]] == pytest.approx([*before[7:], 1001.45])


async def test_urgent_calls_keep_the_total_and_every_chats_bucket() -> None:
    """Seeded traffic, a third of it urgent, on many chats: at most `per_second` in any second,
    and no chat beyond its bucket, however the urgent calls reorder the queue."""
    time = FakeTime()
    per_second = 28
    limiter = urgent_limiter(time, per_second=per_second)
    rng = random.Random(12)  # noqa: S311 - a seeded workload, not a secret
    starts: list[float] = []
    by_chat: dict[int, list[float]] = {}

    async def call(after: float) -> None:
        await time.sleep(after)
        chat = rng.choice([None, rng.randrange(40)])
        start = await limiter.acquire(chat, is_urgent=rng.random() < 0.3)
        starts.append(start)
        if chat is not None:
            by_chat.setdefault(chat, []).append(start)

    await time.run(asyncio.gather(*(call(rng.uniform(0, 5)) for _ in range(600))))

    assert len(starts) == 600
    assert over_limit(starts, limit=per_second) == 0
    assert over_limit(starts, limit=per_second - 1) > 0  # the total is used, not undershot
    assert sum(bucket_violations(s, rate=1, burst=3) for s in by_chat.values()) == 0


async def test_a_429_without_a_chat_holds_urgent_calls_back_too() -> None:
    time = FakeTime()
    limiter = urgent_limiter(time)

    await limiter.hold_off(None, 3)

    assert limiter.reserve(1, is_urgent=True).start == pytest.approx(1003.0)


def test_over_limit_counts_the_sends_beyond_the_number_in_a_second() -> None:
    # 0.95 finds three in the second up to it, and so does 1.05 (0.1, 0.2, 0.95).
    assert over_limit([0.0, 0.1, 0.2, 0.95, 1.05], limit=3) == 2
    # A second later is the next second: 1.0 no longer sees 0.0, 1.1 no longer sees 0.1.
    assert over_limit([0.0, 0.1, 0.2, 1.0, 1.1], limit=3) == 0
    assert over_limit([], limit=1) == 0
