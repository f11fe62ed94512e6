"""Pace the messages the bot sends: about 30 per second in all, about 1 per second per chat.

Telegram answers 429 when a bot goes faster ("avoid sending more than one message per second" in
a chat, "no more than 30 messages per second" overall). `RateLimiter` spaces the *starts* of
message calls (every `send*`, `edit*`, `copy*` and `forward*` except `sendChatAction`) at least
1/`per_second` apart overall, and the calls of one chat at least 1/`per_chat` apart measured from
the *end* of the previous call, which bounds the spacing the server sees whatever the network
did to the previous request. Answers to callback queries and getUpdates are never delayed. A 429
pushes the chat (or, without a chat, the whole bot) back by its `retry_after`.

PTB's AIORateLimiter is not used: it has no per-chat limit for private chats (only for groups),
halts every chat on any 429, needs the aiolimiter package and takes no injectable clock.
`clock` and `sleep` are injectable, so tests check the spacing without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from bot.telegram.wire import WrappingRequest, chat_of, flood_wait, method_name

logger = logging.getLogger(__name__)

PACED_PREFIXES = ("send", "edit", "copy", "forward")
UNPACED = frozenset({"sendChatAction"})
PRUNE_EVERY = 1024
"""Forget idle chats after this many calls, so the table does not grow without bound."""

Chat = int | str


def is_paced(api_method: str) -> bool:
    """Tell whether `api_method` puts a message in a chat (and so counts against the limits)."""
    return api_method.startswith(PACED_PREFIXES) and api_method not in UNPACED


class RateLimiter:
    """Hand out start times for message calls; 0 for a rate turns that limit off.

    A chat's calls also run one at a time (a lock from `acquire` to `release`): the spacing is
    measured from the end of the previous call, which is only known once it has ended.
    """

    def __init__(
        self,
        *,
        per_second: float,
        per_chat: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._interval = 1 / per_second if per_second > 0 else 0.0
        self._chat_interval = 1 / per_chat if per_chat > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = float("-inf")
        """The earliest start of the next message call of the bot."""
        self._chat_next: dict[Chat, float] = {}
        """The earliest start of the next message call per chat."""
        self._chat_locks: dict[Chat, tuple[asyncio.Lock, int]] = {}
        self._calls = 0

    async def acquire(self, chat: Chat | None) -> None:
        """Wait until a message call to `chat` may start; `release(chat)` must follow."""
        if chat is None or not self._chat_interval:
            await self._take_overall_slot()
            return
        lock = self._lock(chat)
        await lock.acquire()
        try:
            wait = self._chat_next.get(chat, float("-inf")) - self._clock()
            if wait > 0:
                await self._sleep(wait)
            await self._take_overall_slot()
        except BaseException:
            self._unlock(chat)
            raise

    def release(self, chat: Chat | None) -> None:
        """Note that a call to `chat` ended: its next call starts a full interval from now."""
        if chat is None or not self._chat_interval:
            return
        end = self._clock() + self._chat_interval
        self._chat_next[chat] = max(self._chat_next.get(chat, end), end)
        self._unlock(chat)

    def hold_off(self, chat: Chat | None, seconds: float) -> None:
        """Start no call to `chat` (or, without a chat, to anyone) for `seconds` (a 429)."""
        until = self._clock() + seconds
        if chat is None:
            self._next = max(self._next, until)
        else:
            self._chat_next[chat] = max(self._chat_next.get(chat, until), until)

    async def _take_overall_slot(self) -> None:
        now = self._clock()
        start = max(now, self._next)
        self._next = start + self._interval
        self._prune(now)
        if start > now:
            await self._sleep(start - now)

    def _lock(self, chat: Chat) -> asyncio.Lock:
        lock, users = self._chat_locks.get(chat, (asyncio.Lock(), 0))
        self._chat_locks[chat] = (lock, users + 1)
        return lock

    def _unlock(self, chat: Chat) -> None:
        lock, users = self._chat_locks[chat]
        lock.release()
        if users == 1:  # nobody waits: forget the lock
            del self._chat_locks[chat]
        else:
            self._chat_locks[chat] = (lock, users - 1)

    def _prune(self, now: float) -> None:
        self._calls += 1
        if self._calls % PRUNE_EVERY == 0:
            self._chat_next = {chat: at for chat, at in self._chat_next.items() if at > now}


class RateLimitedRequest(WrappingRequest):
    """Forward calls to `inner`, starting message calls only when `limiter` allows."""

    def __init__(self, inner: BaseRequest, limiter: RateLimiter) -> None:
        self.inner = inner
        self.limiter = limiter

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
        await self.limiter.acquire(chat)
        try:
            status, payload = await self.inner.do_request(url, method, request_data, *timeouts)
            wait = flood_wait(status, payload)
            if wait is not None:
                logger.warning("%s flood-limited: holding off %.1f s", api_method, wait)
                self.limiter.hold_off(chat, wait)
        finally:
            self.limiter.release(chat)
        return status, payload
