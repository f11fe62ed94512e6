"""SharedRateLimiter: workers on one real Redis keep the limits together, and survive its loss.

Each "worker" is a limiter with its own Redis client (its own connections), as two processes
would have. The limits are asserted on the starts the Lua script reserves (Redis time, whole
microseconds), which is exact whatever the machine's speed: the total as the most starts in any
second, each chat's with `bucket_violations`. Where a test checks that a call really waited, it
reads Redis's TIME inside the call; a wait is slept on the local monotonic clock while TIME follows
the wall clock, which NTP may slew by at most 500 ppm, so those checks allow `SLEW` (1 ms: more
than 500 ppm of any wait here).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from bisect import bisect_left
from collections.abc import AsyncIterator, Callable
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis.asyncio
from telegram.request import BaseRequest, RequestData

# RequestData is made of these; PTB has no public way to build one.
from telegram.request._requestparameter import RequestParameter

from bot.config import Settings
from bot.store import SessionKey, open_store, shared_client
from bot.telegram.api.chain import reliable_request
from bot.telegram.api.pacing.limiter import RateLimitedRequest, RateLimiter, bucket_violations
from bot.telegram.api.pacing.shared import RETRY_SECONDS, SharedRateLimiter
from tests.shared import Sleeps
from tests.telegram.api.pacing.test_limiter import FakeTime, RecordingTransport

SLEW = 0.001
URL = "http://x/bot1:T/"

MakeWorker = Callable[..., SharedRateLimiter]


async def redis_now(client: redis.asyncio.Redis) -> float:
    seconds, micros = await client.time()
    return seconds + micros / 1_000_000


def micros(seconds: float) -> int:
    """Return a slot (whole microseconds of Redis time, as a float) as the exact integer."""
    return round(seconds * 1_000_000)


def max_in_any_second(starts: list[int]) -> int:
    """Return the most starts (microseconds) in any window [t, t + 1 s)."""
    starts = sorted(starts)
    return max(bisect_left(starts, start + 1_000_000) - n for n, start in enumerate(starts))


def data(chat_id: int | None, **extra: Any) -> RequestData:
    parameters = {"text": "hi", **extra} | ({} if chat_id is None else {"chat_id": chat_id})
    return RequestData([RequestParameter.from_input(k, v) for k, v in parameters.items()])


def flood(retry_after: float) -> tuple[int, bytes]:
    body = {"ok": False, "error_code": 429, "parameters": {"retry_after": retry_after}}
    return 429, json.dumps(body).encode()


class TimedTransport(BaseRequest):
    """Records (Redis time at the start, method, chat) of every call; answers as scripted."""

    def __init__(self, clock: redis.asyncio.Redis, answers: list[tuple[int, bytes]] | None = None):
        self.clock = clock
        self.answers = answers or []
        self.starts: list[tuple[float, str, Any]] = []
        self.is_shut_down = False

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        self.is_shut_down = True

    async def do_request(
        self, url: str, method: str, request_data: Any = None, *args: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        chat = request_data.parameters.get("chat_id") if request_data else None
        self.starts.append((await redis_now(self.clock), url.rsplit("/", 1)[-1], chat))
        return self.answers.pop(0) if self.answers else (200, b'{"ok":true,"result":true}')


@pytest.fixture
async def probe(redis_url: str, redis_namespace: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A client of its own that reads Redis's TIME and looks at the keys."""
    client = redis.asyncio.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def worker(redis_url: str, redis_namespace: str) -> AsyncIterator[MakeWorker]:
    """Return `worker(per_second=..., per_chat=..., burst=3)`: a limiter on its own connections."""
    made: list[SharedRateLimiter] = []

    def make(**rates: Any) -> SharedRateLimiter:
        rates.setdefault("burst", 3)
        limiter = SharedRateLimiter.from_url(redis_url, namespace=redis_namespace, **rates)
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


async def test_two_workers_together_keep_the_total_and_each_chats_bucket(
    worker: MakeWorker, probe: redis.asyncio.Redis
) -> None:
    per_second, per_chat, burst = 40, 8, 3
    slots: list[tuple[float, int, float]] = []  # (reserved start, chat, TIME at the call)

    async def send(limiter: SharedRateLimiter, chat: int) -> None:
        start = await limiter.acquire(chat)
        slots.append((start, chat, await redis_now(probe)))

    workers = [worker(per_second=per_second, per_chat=per_chat, burst=burst) for _ in range(2)]
    await asyncio.gather(*(send(w, n % 6) for n in range(30) for w in workers))

    assert len(slots) == 60
    assert all(w.is_shared for w in workers)
    # Apart, each worker would have sent its 30 within 0.75 s: 60 in one second.
    assert max_in_any_second([micros(start) for start, _, _ in slots]) <= per_second
    for chat in range(6):
        starts = [start for start, each, _ in slots if each == chat]
        assert bucket_violations(starts, rate=per_chat, burst=burst) == 0
    assert all(called >= start - SLEW for start, _, called in slots)


async def test_two_workers_together_never_exceed_the_bucket_of_a_chat(
    worker: MakeWorker, probe: redis.asyncio.Redis
) -> None:
    per_chat, burst = 20, 3
    workers = [worker(per_second=0, per_chat=per_chat, burst=burst) for _ in range(2)]
    calls: list[tuple[float, float]] = []  # (reserved start, TIME at the call)

    async def send(limiter: SharedRateLimiter) -> None:
        start = await limiter.acquire(9)
        calls.append((start, await redis_now(probe)))

    await asyncio.gather(*(send(workers[n % 2]) for n in range(12)))

    starts = sorted(start for start, _ in calls)
    assert bucket_violations(starts, rate=per_chat, burst=burst) == 0
    # The burst was used (three at once), then one every 1/20 s: the 12 took 9 intervals.
    assert bucket_violations(starts, rate=per_chat, burst=burst - 1) > 0
    assert starts[-1] - starts[0] == pytest.approx(9 / per_chat, abs=0.01)
    assert all(called >= start - SLEW for start, called in calls)


async def test_a_burst_goes_out_at_once_and_the_next_send_waits_a_token(
    worker: MakeWorker,
) -> None:
    sleeps = Sleeps()  # records the waits and returns at once
    limiter = worker(per_second=0, per_chat=2, burst=3, sleep=sleeps)

    for _ in range(3):
        await limiter.acquire(4)
    assert sleeps.delays == []
    await limiter.acquire(4)

    [wait] = sleeps.delays
    assert 0.4 < wait <= 0.5  # half a second after the first, less the time the three took


async def test_two_chats_do_not_slow_each_other(worker: MakeWorker) -> None:
    sleeps = Sleeps()
    first, second = (worker(per_second=0, per_chat=1, burst=3, sleep=sleeps) for _ in range(2))

    for chat in (1, 2):
        for limiter in (first, second, first):
            await limiter.acquire(chat)

    assert sleeps.delays == []


async def test_a_chat_waiting_for_its_token_does_not_hold_the_others_back(
    worker: MakeWorker,
) -> None:
    """Its later start is an island in Redis: the other chats' queue goes on before it."""
    sleeps = Sleeps()
    limiter = worker(per_second=10, per_chat=1, burst=1, sleep=sleeps)

    first = await limiter.acquire(1)
    later = await limiter.acquire(1)  # its token is due a second later
    others = [await limiter.acquire(chat) for chat in (2, 3, 4)]

    assert micros(later) - micros(first) == 1_000_000
    assert all(start < later for start in others)
    starts = sorted([first, later, *others])
    assert min(micros(b) - micros(a) for a, b in pairwise(starts)) >= 100_000


async def test_a_burst_of_many_concurrent_sends_stays_shared(
    worker: MakeWorker, caplog: pytest.LogCaptureFixture
) -> None:
    """More sends at once than the pool has connections wait for one: no fallback."""
    limiter = worker(per_second=0, per_chat=1, burst=3, sleep=Sleeps())

    await asyncio.gather(*(limiter.acquire(chat) for chat in range(300)))

    assert limiter.is_shared
    assert "unreachable" not in caplog.text


async def test_the_keys_expire_once_they_no_longer_matter(
    worker: MakeWorker, probe: redis.asyncio.Redis, redis_namespace: str
) -> None:
    limiter = worker(per_second=10, per_chat=1, burst=2, sleep=Sleeps())
    for _ in range(3):  # the third waits for its token: an island a second ahead
        await limiter.acquire(5)

    prefix = f"{redis_namespace}:rate"
    ttls = {name: await probe.pttl(f"{prefix}:{name}") for name in ("bot", "islands", "chat:5")}
    # Each lives a second past the moment it stops mattering, and no longer.
    assert 0 < ttls["bot"] <= 1200  # the queue's next start is 0.1 s ahead
    assert 1000 < ttls["islands"] <= 2100  # the island is 1 s ahead, in the way for 0.1 s
    assert 3000 < ttls["chat:5"] <= 4000  # empty at 1 s, the bucket is full again at 3 s


@pytest.mark.parametrize(("flooded", "held"), [(7, {7}), (None, {8})], ids=["chat", "bot"])
async def test_a_429_on_one_worker_holds_back_the_other(
    worker: MakeWorker, probe: redis.asyncio.Redis, flooded: int | None, held: set[int]
) -> None:
    """A flood wait for a chat holds that chat back in every worker; one without a chat, all."""
    sending = [0]
    waited: set[int] = set()

    async def sleep(seconds: float) -> None:
        waited.add(sending[0])
        await asyncio.sleep(seconds)

    first = TimedTransport(probe, answers=[flood(0.6)])
    second = TimedTransport(probe)
    request_a = RateLimitedRequest(first, worker(per_second=0, per_chat=20))
    request_b = RateLimitedRequest(second, worker(per_second=0, per_chat=20, sleep=sleep))
    extra = {} if flooded is not None else {"inline_message_id": "m1"}

    status, _ = await request_a.do_request(URL + "editMessageText", "POST", data(flooded, **extra))
    for chat in (8, 7):
        sending[0] = chat
        await request_b.do_request(URL + "sendMessage", "POST", data(chat))

    assert status == 429
    assert waited == held
    start = next(at for at, _, chat in second.starts if chat in held)
    assert start >= first.starts[0][0] + 0.6 - SLEW


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.usefixtures("real_network")
async def test_without_redis_each_worker_paces_itself_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]

    async def sleep(seconds: float) -> None:  # sends one after another: time is a counter
        now[0] += seconds

    url = f"redis://:s3cret@127.0.0.1:{closed_port()}/15"
    limiter = SharedRateLimiter.from_url(
        url, per_second=10, per_chat=2, burst=1, clock=lambda: now[0], sleep=sleep
    )
    starts = []
    async with asyncio.timeout(10):  # a hang fails the test instead of blocking it
        for n in range(4):
            if n == 2:
                now[0] += RETRY_SECONDS  # Redis is tried again, and fails again
            starts.append(await limiter.acquire(5))
        await limiter.hold_off(5, 3.0)
        starts.append(await limiter.acquire(5))
    await limiter.aclose()

    assert not limiter.is_shared
    assert [round(b - a, 6) for a, b in pairwise(starts)] == [
        *(0.5, RETRY_SECONDS, 0.5),
        3.0,  # the 429's push-back, kept locally
    ]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in warnings] == ["bot.telegram.api.pacing.shared"]
    assert "ConnectionError" in caplog.text
    assert "s3cret" not in caplog.text


class CuttableLink:
    """A loopback TCP relay to the test Redis; `cut()` drops its connections and refuses more."""

    def __init__(self, redis_url: str) -> None:
        self.target = urlsplit(redis_url)
        self.is_cut = False
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        """Start relaying; return a Redis URL that goes through the relay."""
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return self.target._replace(netloc=f"127.0.0.1:{port}").geturl()

    def cut(self) -> None:
        self.is_cut = True
        for writer in self._writers:
            writer.close()

    async def aclose(self) -> None:
        self.cut()
        self._server.close()
        await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            writer.close()
            return
        target = self.target.hostname, self.target.port
        up_reader, up_writer = await asyncio.open_connection(*target)
        self._writers |= {writer, up_writer}
        await asyncio.gather(
            self._copy(reader, up_writer), self._copy(up_reader, writer), return_exceptions=True
        )

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()


async def test_the_limiter_shares_the_pace_again_once_redis_is_back(
    redis_url: str,
    redis_namespace: str,
    probe: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.api.pacing.shared")
    link = CuttableLink(redis_url)
    now = [1000.0]
    limiter = SharedRateLimiter.from_url(
        await link.start(),
        per_second=1000,
        per_chat=0,
        burst=1,
        namespace=redis_namespace,
        clock=lambda: now[0],
    )
    shared_at: list[bool] = []

    async def send() -> None:
        await limiter.acquire(3)
        shared_at.append(limiter.is_shared)

    try:
        await send()
        link.cut()
        await send()  # Redis fails: this process paces alone...
        link.is_cut = False
        await send()  # ...until RETRY_SECONDS have passed,
        now[0] += RETRY_SECONDS
        await send()  # then Redis again.
    finally:
        await limiter.aclose()
        await link.aclose()

    assert shared_at == [True, False, False, True]
    assert await probe.exists(f"{redis_namespace}:rate:bot")
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


async def test_shutting_the_chain_down_closes_the_limiter_connection(
    redis_url: str, redis_namespace: str, probe: redis.asyncio.Redis
) -> None:
    limiter = SharedRateLimiter.from_url(
        redis_url, per_second=28, per_chat=1, burst=3, namespace=redis_namespace
    )
    transport = TimedTransport(probe)
    request = RateLimitedRequest(transport, limiter)
    await request.do_request(URL + "sendMessage", "POST", data(1))

    async def limiter_connections() -> int:
        clients: list[dict[str, Any]] = await probe.client_list()
        return sum(1 for c in clients if c["name"] == f"{redis_namespace}-ratelimit")

    assert await limiter_connections() == 1
    await request.shutdown()
    for _ in range(200):  # the server drops the connection on its next turn; bounded wait
        if not await limiter_connections():
            break
        await asyncio.sleep(0.01)
    assert await limiter_connections() == 0
    assert transport.is_shut_down


@pytest.mark.parametrize(
    ("store", "rates", "expected"),
    [
        ("redis", (28, 1), SharedRateLimiter),
        ("redis", (28, 0), SharedRateLimiter),
        ("redis", (0, 0), RateLimiter),
        ("sqlite", (28, 1), RateLimiter),
        ("memory", (28, 1), RateLimiter),
    ],
)
async def test_the_chain_shares_the_pace_only_through_a_redis_store(
    settings: Settings,
    redis_url: str,
    tmp_path: Path,
    store: str,
    rates: tuple[float, float],
    expected: type,
) -> None:
    """The pacer uses the Redis store's own client (one pool per process), and leaves it open."""
    urls = {"redis": redis_url, "sqlite": f"sqlite:///{tmp_path}/s.db", "memory": "memory://"}
    opened = await open_store(urls[store], ttl_seconds=None)
    update = {
        "rate_limit_total": rates[0],
        "rate_limit_chat": rates[1],
        "rate_limit_chat_burst": 5,
    }
    request: Any = reliable_request(
        settings.model_copy(update=update),
        RecordingTransport(FakeTime()),
        redis=shared_client(opened),
    )
    while not isinstance(request, RateLimitedRequest):
        request = request.inner

    assert type(request.limiter) is expected
    assert isinstance(request.limiter, RateLimiter | SharedRateLimiter)
    assert request.limiter.burst == 5
    await request.limiter.aclose()
    await opened.get(SessionKey(1, 1))  # the store's client is still open
    await opened.close()


async def test_an_urgent_result_goes_before_the_queue_of_every_worker(
    worker: MakeWorker, probe: redis.asyncio.Redis
) -> None:
    """Another worker queued thirty edits (3 s); this worker's emergency screen takes the first
    start not due yet, and the other worker's calls that waited each go one start later."""
    busy = worker(per_second=10, per_chat=1)
    urgent = worker(per_second=10, per_chat=1)
    starts: dict[int, float] = {}

    async def queued(n: int) -> None:
        starts[n] = await busy.acquire(None)

    waiting = [asyncio.ensure_future(queued(n)) for n in range(30)]
    for _ in range(1000):  # until all thirty are reserved
        if await probe.hget(f"{busy._prefix}:bot", "tickets") == b"30":
            break
        await asyncio.sleep(0.001)
    called = await redis_now(probe)

    emergency = await urgent.acquire(77, is_urgent=True)
    await asyncio.gather(*waiting)

    assert emergency - called < 0.15  # at most the first queued start, which the busy one has
    ordered = sorted(starts.values())
    assert emergency not in ordered
    assert ordered[-1] - ordered[0] == pytest.approx(3.0, abs=0.01)  # 31 starts, 0.1 s apart
    all_starts = sorted([*ordered, emergency])
    assert min(b - a for a, b in pairwise(all_starts)) == pytest.approx(0.1, abs=0.001)


async def test_two_workers_with_urgent_calls_keep_the_total_and_each_chats_bucket(
    worker: MakeWorker, probe: redis.asyncio.Redis
) -> None:
    """A third of the calls urgent, some to no chat, from two workers at once: however they
    reorder the queue, the total, every chat's bucket, and each call's start hold."""
    per_second, per_chat, burst = 20, 3, 3
    workers = [worker(per_second=per_second, per_chat=per_chat, burst=burst) for _ in range(2)]
    slots: list[tuple[float, int | None, float]] = []  # (start, chat, TIME at the call)

    async def send(limiter: SharedRateLimiter, n: int) -> None:
        chat = None if n % 5 == 0 else n % 7
        start = await limiter.acquire(chat, is_urgent=n % 3 == 0)
        slots.append((start, chat, await redis_now(probe)))

    await asyncio.gather(*(send(workers[n % 2], n) for n in range(50)))

    assert len(slots) == 50
    assert max_in_any_second([micros(start) for start, _, _ in slots]) <= per_second
    for chat in range(7):
        starts = [start for start, each, _ in slots if each == chat]
        assert bucket_violations(starts, rate=per_chat, burst=burst) == 0
    assert all(called >= start - SLEW for start, _, called in slots)
