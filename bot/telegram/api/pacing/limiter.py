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
* In all, starts at least 1/`per_second` apart (GCRA without burst), in a queue. A call that may
  start now queues behind the bot's last reserved start (`_next`); a call that waits for its
  chat's token reserves a start at that later time ("island") without pushing `_next`, so one
  chat's wait never holds the other chats back, and the pointer later steps over the islands.
* Urgent first: the call that shows an urgent or emergency result (`is_urgent`) goes before the
  calls waiting in the queue. It takes the first queued start not due yet, each waiting call
  moves to the next one's start, and the last takes the new start at the end: the set of starts
  (and so the total) is the same, only the order changes. Under load the queue holds a few
  hundred milliseconds of other chats' calls; the person who ticked "chest pain" must not wait
  behind them. A waiting call holds a `Ticket` whose start may so move later, never earlier;
  `acquire` sleeps until the ticket's start as it is then. A chat whose call moves has its bucket
  moved with it, so its next send still finds a token.
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
import itertools
import logging
import math
import time
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
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

        `is_urgent`: the call shows an urgent or emergency result (it goes before the queue).
        """

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (a 429)."""

    async def aclose(self) -> None:
        """Release what the limiter holds (a connection); called when the chain shuts down."""


@dataclass(slots=True)
class Ticket:
    """One reserved start; an urgent call may move it later (never earlier) while it waits."""

    start: float
    chat: Chat | None


class RateLimiter:
    """Hand out start times for message calls in this process; 0 for a rate turns it off."""

    def __init__(
        self,
        *,
        per_second: float,
        per_chat: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.burst = burst
        self._interval = 1 / per_second if per_second > 0 else 0.0
        self._chat_interval = 1 / per_chat if per_chat > 0 else 0.0
        self._tolerance = (burst - 1) * self._chat_interval
        """How far ahead of its bucket's `full` time a chat may start: `burst - 1` tokens."""
        self._clock = clock
        self._sleep = sleep
        self._next = -math.inf
        """The bot's earliest next start in the queue (pushed by a 429 without a chat)."""
        self._queue: deque[Ticket] = deque()
        """The queue's reserved starts, ascending; those not due yet may move (urgent first)."""
        self._islands: list[float] = []
        """Starts reserved beyond `_next` by calls that wait for their chat, ascending."""
        self._full: dict[Chat, float] = {}
        """When each chat's bucket is full again (GCRA's theoretical arrival time)."""
        self._latest: dict[Chat, Ticket] = {}
        """Each chat's last reservation (`_go_first` moves no other)."""
        self._calls = 0

    def reserve(self, chat: Chat | None, *, is_urgent: bool = False) -> Ticket:
        """Reserve the start of one message call to `chat` and return its ticket (on `clock`).

        The token and the start are taken at once: a caller cancelled before its start loses them.
        An urgent call later may move the ticket's start (`Ticket`).
        """
        now = self._clock()
        self._next = max(self._next, now)
        queue = self._queue
        while queue and queue[0].start <= now:  # due: started, or about to
            queue.popleft()
        full = self._full.get(chat, now) if chat is not None and self._chat_interval else now
        earliest = max(now, full - self._tolerance)
        if earliest <= self._next:  # no wait for the chat: queue behind the bot's last start
            ticket = self._ticket(self._fit(self._next), chat)
            self._next = ticket.start + self._interval
            if self._interval:
                queue.append(ticket)
                if is_urgent:
                    self._go_first(earliest)
        else:  # the chat's token comes later: an island there, the queue goes on meanwhile
            ticket = self._ticket(self._fit(earliest), chat)
            if self._interval:
                insort(self._islands, ticket.start)
        # Islands the queue has passed can no longer be in the way.
        del self._islands[: bisect_right(self._islands, self._next - self._interval)]
        if chat is not None and self._chat_interval:
            self._full[chat] = max(full, ticket.start) + self._chat_interval
        self._prune(now)
        return ticket

    async def acquire(self, chat: Chat | None, *, is_urgent: bool = False) -> float:
        """Reserve a start for one message call to `chat`, wait until it and return it."""
        ticket = self.reserve(chat, is_urgent=is_urgent)
        start, wait = ticket.start, ticket.start - self._clock()
        while wait > 0:
            await self._sleep(wait)
            if ticket.start == start:
                break
            start, wait = ticket.start, ticket.start - self._clock()  # an urgent call moved it
        return start

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (a 429).

        The chat's bucket is empty until then: one token is due at that moment.
        """
        until = self._clock() + seconds
        if chat is None:
            self._next = max(self._next, until)
        elif self._chat_interval:
            full = until + self._tolerance
            self._full[chat] = max(self._full.get(chat, full), full)

    async def aclose(self) -> None:
        """Nothing to close: the state lives in this process."""

    def _ticket(self, start: float, chat: Chat | None) -> Ticket:
        """Return a new ticket; it is its chat's last reservation."""
        if chat is None or not self._chat_interval:
            return Ticket(start, None)
        ticket = self._latest[chat] = Ticket(start, chat)
        return ticket

    def _go_first(self, earliest: float) -> None:
        """Move the queue's last ticket (an urgent call's) before the calls waiting from
        `earliest` on: it takes the first one's start, and each moves on to the next one's.

        A call of a chat with a later reservation stays: moving it towards that one could put
        the two closer than the chat's bucket allows. A call that moves is its chat's last, so
        the chat's bucket moves with it and its next send is judged from the new start.
        """
        queue = self._queue
        index = next(index for index, waiting in enumerate(queue) if waiting.start >= earliest)
        moving = [
            waiting
            for waiting in itertools.islice(queue, index, None)
            if waiting.chat is None or self._latest.get(waiting.chat) is waiting
        ]
        starts = [waiting.start for waiting in moving]
        moving.insert(0, moving.pop())  # the urgent ticket first
        for waiting, start in zip(moving, starts, strict=True):
            waiting.start = start
            if waiting.chat is not None:
                full = self._full.get(waiting.chat, start)
                self._full[waiting.chat] = max(full, start + self._chat_interval)
        ordered = sorted(itertools.islice(queue, index, None), key=lambda ticket: ticket.start)
        for _ in range(len(queue) - index):
            queue.pop()
        queue.extend(ordered)

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
            self._latest = {chat: last for chat, last in self._latest.items() if last.start > now}


_prepaid: ContextVar[tuple[Chat, bool] | None] = ContextVar("prepaid_turn", default=None)
"""A chat whose next call (a new message, or not) already waited for its start (`take_turn`)."""


async def take_turn(
    pacer: Pacer, chat: Chat, *, is_new_message: bool = True, is_urgent: bool = False
) -> None:
    """Wait for the start of the chat's next call now; the task's next such call then goes at once.

    The outbox waits for its turn *before* it reads what to show, so that a screen sent after
    a wait is the newest state, not the one from before the wait (questionnaire/keeper.py). An edit
    (`is_new_message` False) waits for a start in the total only; `is_urgent`: the call shows an
    urgent or emergency result (it goes before the queue).
    """
    await pacer.acquire(chat if is_new_message else None, is_urgent=is_urgent)
    _prepaid.set((chat, is_new_message))


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
