"""Pace the messages the bot sends: about 30 per second in all, short bursts then 1/s per chat.

Telegram answers 429 when a bot goes faster ("avoid sending more than one message per second" in
a chat, "we may allow short bursts"; "no more than 30 messages per second" overall).
`RateLimiter` paces the *starts* of message calls (every `send*`, `edit*`, `copy*` and `forward*`
except `sendChatAction`); answers to callback queries and getUpdates are never delayed.

* Per chat, a token bucket: `burst` tokens, refilled at `per_chat` per second, and a call that
  puts a new message in the chat takes one at its start. Edits take none (`is_chat_paced`): the
  limits Telegram states are about messages sent, and an edit of the live message is how an
  answer, a tick or an urgent result is shown, which must not wait behind the chat's sends.
  The bucket is kept as GCRA (one number per chat: when it will be full again), and the token
  is reserved *before* the caller sleeps, so concurrent callers of a chat queue in the order
  they came. Nothing is held while the call runs: a chat's sends are serialised upstream
  (`outbox.py`, one worker per chat).
* In all, at most `per_second` starts in any second, in two lanes. The queue: starts at least
  1/(`per_second` - `urgent`) apart (GCRA without burst). A call that may start now queues
  behind the bot's last reserved start (`_next`); a call that waits for its chat's token
  reserves a start at that later time ("island") without pushing `_next`, so one chat's wait
  never holds the other chats back, and the pointer later steps over the islands. The urgent
  lane: at most `urgent` starts in any second, at once if need be, kept for the call that shows
  an urgent or emergency result (`is_urgent`), which takes the earlier of the lane's next start
  and its place in the queue. Under load the queue holds a few hundred milliseconds of other
  chats' calls; the person who ticked "chest pain" must not wait behind them. The two lanes
  together never go over `per_second` in a second (`over_limit` checks sends with that rule).
* A 429 with `retry_after` for a chat empties its bucket until then (one token is due at that
  moment, the next 1/`per_chat` later: no burst right after a flood wait); without a chat it holds
  back every call.

`bucket_violations` counts the sends of one chat that such a bucket would have refused, and
`over_limit` the sends beyond a number a second in all; the tests and the benchmark harnesses
check the sends they see with them.

`RateLimiter` keeps its state in the process. Several webhook workers on one Redis share theirs
through `bot.telegram.api.pacing.shared.SharedRateLimiter` instead (the same rules in one Lua
script); `RateLimitedRequest` takes either (the `Pacer` protocol), and `bot/telegram/api/chain.py`
picks by the store URL.

PTB's AIORateLimiter is not used: it has no per-chat limit for private chats (only for groups),
halts every chat on any 429, needs the aiolimiter package and takes no injectable clock.
`clock` and `sleep` are injectable, so tests check the starts without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Protocol

from telegram._utils.types import ODVInput  # BaseRequest's timeout type: no public name
from telegram.request import BaseRequest, RequestData

from bot.telegram.api.wire import WrappingRequest, chat_of, flood_wait, method_name

logger = logging.getLogger(__name__)

PACED_PREFIXES = ("send", "edit", "copy", "forward")
UNPACED = frozenset({"sendChatAction"})
PRUNE_EVERY = 1024
"""Forget chats whose bucket is full again after this many calls, so the table stays small."""
SLACK = 0.001
"""Seconds `bucket_violations` forgives by default: float rounding and the microseconds of Redis
time, not a network's jitter (a harness timing arrivals passes its own)."""

Chat = int | str
Sleep = Callable[[float], Awaitable[object]]


def is_chat_paced(api_method: str) -> bool:
    """Tell whether `api_method` puts a new message in a chat (and so takes a chat's token).

    Edits change a message already there: they count against the bot's overall pace only, so
    that an urgent screen drawn over the live message never waits for the chat's bucket.
    """
    return is_paced(api_method) and not api_method.startswith("edit")


def is_paced(api_method: str) -> bool:
    """Tell whether `api_method` puts a message in a chat (and so counts against the limits)."""
    return api_method.startswith(PACED_PREFIXES) and api_method not in UNPACED


def bucket_violations(
    starts: Iterable[float], *, rate: float, burst: int, slack: float = SLACK
) -> int:
    """Count the sends of ONE chat, started at `starts` (seconds), that its bucket would refuse.

    The bucket holds `burst` tokens, full at first, refilled at `rate` per second; each send takes
    one. A send that finds none is counted and takes none (Telegram would have refused it), so one
    early send counts once and the sends after it are judged as if it had not been made. A token
    due at most `slack` seconds after a send counts as there. `rate` 0 is no limit: 0.
    """
    if rate <= 0:
        return 0
    interval = 1 / rate
    tolerance = (burst - 1) * interval + slack
    full_at = -math.inf  # when the bucket is full again (GCRA's theoretical arrival time)
    refused = 0
    for at in sorted(starts):
        if at < full_at - tolerance:
            refused += 1
        else:
            full_at = max(full_at, at) + interval
    return refused


def over_limit(starts: Iterable[float], *, limit: float, within: float = 1.0) -> int:
    """Count the sends, started at `starts` (seconds), that find `limit` others in the `within`
    seconds up to them (Telegram: "no more than 30 messages per second")."""
    ordered = sorted(starts)
    return sum(
        1
        for index, at in enumerate(ordered)
        if index - bisect_right(ordered, at - within) + 1 > limit
    )


class Pacer(Protocol):
    """What `RateLimitedRequest` needs of a limiter, in-process or shared."""

    async def acquire(self, chat: Chat | None, *, is_urgent: bool = False) -> float:
        """Take a start for one message call to `chat`, wait until it and return it.

        `is_urgent`: the call shows an urgent or emergency result (the urgent lane).
        """

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (a 429)."""

    async def aclose(self) -> None:
        """Release what the limiter holds (a connection); called when the chain shuts down."""


class RateLimiter:
    """Hand out start times for message calls in this process; 0 for a rate turns it off."""

    def __init__(
        self,
        *,
        per_second: float,
        per_chat: float,
        burst: int,
        urgent: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.burst = burst
        self._interval = queue_interval(per_second, urgent)
        self._lane: deque[float] = deque(maxlen=urgent if per_second > 0 else 0)
        """The urgent lane's last `urgent` starts, in order."""
        self._lane_held = -math.inf
        """No urgent start before this (a 429 without a chat)."""
        self._chat_interval = 1 / per_chat if per_chat > 0 else 0.0
        self._tolerance = (burst - 1) * self._chat_interval
        """How far ahead of its bucket's `full` time a chat may start: `burst - 1` tokens."""
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf
        """The bot's earliest next start in the queue (pushed by a 429 without a chat)."""
        self._islands: list[float] = []
        """Starts reserved beyond `_next` by calls that wait for their chat, ascending."""
        self._full: dict[Chat, float] = {}
        """When each chat's bucket is full again (GCRA's theoretical arrival time)."""
        self._calls = 0

    def reserve(self, chat: Chat | None, *, is_urgent: bool = False) -> float:
        """Reserve the start of one message call to `chat` and return it (on `clock`).

        The token and the start are taken at once: a caller cancelled before its start loses them.
        """
        now = self._clock()
        self._next = max(self._next, now)
        full = self._full.get(chat, now) if chat is not None and self._chat_interval else now
        earliest = max(now, full - self._tolerance)
        lane = self._lane_start(earliest) if is_urgent else math.inf
        if lane < self._fit(max(earliest, self._next)):
            start = lane  # the urgent lane is free before the call's place in the queue
            self._lane.append(start)
        elif earliest <= self._next:  # no wait for the chat: queue behind the bot's last start
            start = self._fit(self._next)
            self._next = start + self._interval
        else:  # the chat's token comes later: an island there, the queue goes on meanwhile
            start = self._fit(earliest)
            if self._interval:
                insort(self._islands, start)
        # Islands the queue has passed can no longer be in the way.
        del self._islands[: bisect_right(self._islands, self._next - self._interval)]
        if chat is not None and self._chat_interval:
            self._full[chat] = max(full, start) + self._chat_interval
        self._prune(now)
        return start

    async def acquire(self, chat: Chat | None, *, is_urgent: bool = False) -> float:
        """Reserve a start for one message call to `chat`, wait until it and return it."""
        start = self.reserve(chat, is_urgent=is_urgent)
        wait = start - self._clock()
        if wait > 0:
            await self._sleep(wait)
        return start

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (a 429).

        The chat's bucket is empty until then: one token is due at that moment.
        """
        until = self._clock() + seconds
        if chat is None:
            self._next = max(self._next, until)
            self._lane_held = max(self._lane_held, until)
        elif self._chat_interval:
            full = until + self._tolerance
            self._full[chat] = max(self._full.get(chat, full), full)

    async def aclose(self) -> None:
        """Nothing to close: the state lives in this process."""

    def _lane_start(self, earliest: float) -> float:
        """Return the urgent lane's first start from `earliest` on (its starts stay in order, and
        a start comes a second after the one `urgent` before it); inf when there is no lane."""
        lane = self._lane
        if not lane.maxlen:
            return math.inf
        start = max(earliest, self._lane_held, lane[-1] if lane else -math.inf)
        return max(start, lane[0] + 1.0) if len(lane) == lane.maxlen else start

    def _fit(self, at: float) -> float:
        """Return the first start from `at` on at least one interval away from every island."""
        islands = self._islands
        index = bisect_right(islands, at - self._interval)
        while index < len(islands) and islands[index] < at + self._interval:
            at = islands[index] + self._interval
            index += 1
        return at

    def _prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % PRUNE_EVERY == 0:  # a full bucket is the same as no entry
            self._full = {chat: at for chat, at in self._full.items() if at > now}


_prepaid: ContextVar[tuple[Chat, bool] | None] = ContextVar("prepaid_turn", default=None)
"""A chat whose next call (a new message, or not) already waited for its start (`take_turn`)."""


async def take_turn(
    pacer: Pacer, chat: Chat, *, is_new_message: bool = True, is_urgent: bool = False
) -> None:
    """Wait for the start of the chat's next call now; the task's next such call then goes at once.

    The outbox waits for its turn *before* it reads what to show, so that a screen sent after
    a wait is the newest state, not the one from before the wait (questionnaire/keeper.py). An edit
    (`is_new_message` False) waits for a start in the total only; `is_urgent`: the call shows an
    urgent or emergency result (the urgent lane).
    """
    await pacer.acquire(chat if is_new_message else None, is_urgent=is_urgent)
    _prepaid.set((chat, is_new_message))


def queue_interval(per_second: float, urgent: int) -> float:
    """Return the seconds between starts in the queue (0: no limit).

    The urgent lane's `urgent` starts a second come out of `per_second`, so that both lanes
    together stay within it.
    """
    if per_second <= 0:
        return 0.0
    if not 0 <= urgent < per_second:
        raise ValueError("the urgent lane must be less than the total rate")
    return 1 / (per_second - urgent)


def pacer_of(request: BaseRequest) -> Pacer | None:
    """Return the limiter of a request chain (RetryingRequest around RateLimitedRequest ...)."""
    while True:
        if isinstance(request, RateLimitedRequest):
            return request.limiter
        inner = getattr(request, "inner", None)
        if not isinstance(inner, BaseRequest):
            return None
        request = inner


class RateLimitedRequest(WrappingRequest):
    """Forward calls to `inner`, starting message calls only when `limiter` allows."""

    def __init__(self, inner: BaseRequest, limiter: Pacer) -> None:
        self.inner = inner
        self.limiter = limiter

    async def shutdown(self) -> None:
        """Close the limiter (a shared one holds a Redis connection), then the transport."""
        try:
            await self.limiter.aclose()
        finally:
            await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Wait for a start if the call is a message, send it, and learn from a 429."""
        timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        api_method = method_name(url)
        if not is_paced(api_method):
            return await self.inner.do_request(url, method, request_data, *timeouts)
        chat = chat_of(request_data)
        is_chat_call = is_chat_paced(api_method)
        if chat is not None and (chat, is_chat_call) == _prepaid.get():
            _prepaid.set(None)  # its start was taken by `take_turn`
        else:
            await self.limiter.acquire(chat if is_chat_call else None)
        status, payload = await self.inner.do_request(url, method, request_data, *timeouts)
        wait = flood_wait(status, payload)
        if wait is not None:
            logger.warning("%s flood-limited: holding off %.1f s", api_method, wait)
            await self.limiter.hold_off(chat, wait)
        return status, payload
