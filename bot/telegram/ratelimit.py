"""Pace the messages the bot sends: about 30 per second in all, about 1 per second per chat.

Telegram answers 429 when a bot goes faster ("avoid sending more than one message per second" in
a chat, "no more than 30 messages per second" overall). `RateLimiter` spaces the *starts* of
message calls (every `send*`, `edit*`, `copy*` and `forward*` except `sendChatAction`) at least
1/`per_second` apart overall, and the calls of one chat at least 1/`per_chat` apart measured from
the *end* of the previous call, which bounds the spacing the server sees whatever the network
did to the previous request. Answers to callback queries and getUpdates are never delayed. A 429
pushes the chat (or, without a chat, the whole bot) back by its `retry_after`.

`RateLimiter` keeps its state in the process. Several webhook workers on one Redis share theirs
through `bot.telegram.shared_ratelimit.SharedRateLimiter` instead; `RateLimitedRequest` takes
either (the `Pacer` protocol), and `bot/telegram/requests.py` picks by the store URL.

PTB's AIORateLimiter is not used: it has no per-chat limit for private chats (only for groups),
halts every chat on any 429, needs the aiolimiter package and takes no injectable clock.
`clock` and `sleep` are injectable, so tests check the spacing without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.telegram.wire import WrappingRequest, chat_of, flood_wait, method_name

logger = logging.getLogger(__name__)

PACED_PREFIXES = ("send", "edit", "copy", "forward")
UNPACED = frozenset({"sendChatAction"})
PRUNE_EVERY = 1024
"""Forget idle chats after this many calls, so the table does not grow without bound."""

Chat = int | str
Sleep = Callable[[float], Awaitable[object]]


def is_paced(api_method: str) -> bool:
    """Tell whether `api_method` puts a message in a chat (and so counts against the limits)."""
    return api_method.startswith(PACED_PREFIXES) and api_method not in UNPACED


class Pacer(Protocol):
    """What `RateLimitedRequest` needs of a limiter, in-process or shared."""

    def slot(self, chat: Chat | None) -> AbstractAsyncContextManager[float]:
        """Wait for a start slot for one message call to `chat`; hold it while the call runs."""

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (a 429)."""

    async def aclose(self) -> None:
        """Release what the limiter holds (a connection); called when the chain shuts down."""


class ChatLocks:
    """One asyncio lock per chat, forgotten as soon as nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[Chat, tuple[asyncio.Lock, int]] = {}

    async def acquire(self, chat: Chat) -> None:
        """Wait until this task is the only one holding `chat`; `release(chat)` must follow."""
        lock, users = self._locks.get(chat, (asyncio.Lock(), 0))
        self._locks[chat] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:  # cancelled while waiting: not held, but no longer a user
            self._leave(chat)
            raise

    def __len__(self) -> int:
        """Return how many chats are held or waited for (the others are forgotten)."""
        return len(self._locks)

    def release(self, chat: Chat) -> None:
        """Let the next task waiting for `chat` go on."""
        self._locks[chat][0].release()
        self._leave(chat)

    def _leave(self, chat: Chat) -> None:
        lock, users = self._locks[chat]
        if users == 1:  # nobody waits: forget the lock
            del self._locks[chat]
        else:
            self._locks[chat] = (lock, users - 1)


class RateLimiter:
    """Hand out start times for message calls in this process; 0 for a rate turns it off.

    A chat's calls also run one at a time (a lock from `acquire` to `release`): the spacing is
    measured from the end of the previous call, which is only known once it has ended.
    """

    def __init__(
        self,
        *,
        per_second: float,
        per_chat: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._interval = 1 / per_second if per_second > 0 else 0.0
        self._chat_interval = 1 / per_chat if per_chat > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        """The earliest start of the next message call of the bot."""
        self._chat_next: dict[Chat, float] = {}
        """The earliest start of the next message call per chat."""
        self._locks = ChatLocks()
        self._calls = 0

    async def acquire(self, chat: Chat | None) -> float:
        """Wait until a message call to `chat` may start and return its start time.

        `release(chat)` must follow.
        """
        if chat is None or not self._chat_interval:
            return await self._take_overall_slot()
        await self._locks.acquire(chat)
        try:
            wait = self._chat_next.get(chat, float("-inf")) - self._clock()
            if wait > 0:
                await self._sleep(wait)
            return await self._take_overall_slot()
        except BaseException:
            self._locks.release(chat)
            raise

    def release(self, chat: Chat | None) -> None:
        """Note that a call to `chat` ended: its next call starts a full interval from now."""
        if chat is None or not self._chat_interval:
            return
        end = self._clock() + self._chat_interval
        self._chat_next[chat] = max(self._chat_next.get(chat, end), end)
        self._locks.release(chat)

    @asynccontextmanager
    async def slot(self, chat: Chat | None) -> AsyncIterator[float]:
        """Hold a slot for one message call to `chat`; yield its start time on `clock`."""
        start = await self.acquire(chat)
        try:
            yield start
        finally:
            self.release(chat)

    async def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (a 429)."""
        until = self._clock() + seconds
        if chat is None:
            self._next = max(self._next, until)
        else:
            self._chat_next[chat] = max(self._chat_next.get(chat, until), until)

    async def aclose(self) -> None:
        """Nothing to close: the state lives in this process."""

    async def _take_overall_slot(self) -> float:
        now = self._clock()
        start = max(now, self._next)
        self._next = start + self._interval
        self._prune(now)
        if start > now:
            await self._sleep(start - now)
        return start

    def _prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % PRUNE_EVERY == 0:
            self._chat_next = {chat: at for chat, at in self._chat_next.items() if at > now}


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
        """Wait for a slot if the call is a message, send it, and learn from a 429."""
        timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        api_method = method_name(url)
        if not is_paced(api_method):
            return await self.inner.do_request(url, method, request_data, *timeouts)
        chat = chat_of(request_data)
        async with self.limiter.slot(chat):
            status, payload = await self.inner.do_request(url, method, request_data, *timeouts)
            wait = flood_wait(status, payload)
            if wait is not None:
                logger.warning("%s flood-limited: holding off %.1f s", api_method, wait)
                await self.limiter.hold_off(chat, wait)
        return status, payload
