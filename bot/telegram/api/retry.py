"""`RetryingRequest`: retry Bot API calls that are safe to repeat, with backoff and jitter.

It wraps any PTB `BaseRequest` (HTTPXRequest, the aiohttp transport, a test fake) and sees each
attempt's raw answer, before PTB turns it into an exception. What it retries:

* 429 Too Many Requests, for every method, after `parameters.retry_after` seconds: the server
  refused the call, so nothing happened yet. A wait over `max_flood_wait` is not sat out (it would
  hold the chat for too long); the call fails and PTB raises `RetryAfter`.
* 500/502/503/504, timeouts and network errors, for idempotent methods only (`IDEMPOTENT`):
  answering a callback query, editing or deleting a message, setting commands or the webhook,
  getUpdates (the offset is unchanged, so the same updates come back).
* `sendMessage` and every other call that creates something, only when the error proves that the
  request never left (connection refused, connect timeout, pool exhausted). A read timeout, a reset
  after sending or a 5xx may come after Telegram delivered the message, and resending would show
  it twice; such a failure reaches the handler, whose error handler apologises and shows the
  current question, and the update is delivered again (see `processing.py`).

Two answers mean "already done" and become success: answerCallbackQuery's "query is too old or
query ID is invalid" (the spinner is gone either way; it happens when an update is redelivered or
a flood wait ran past Telegram's 15 s), and deleteMessage's "not found" on a repeated attempt.
Delays grow exponentially from `base_delay` to `max_delay`, each scaled by a random factor in
[0.5, 1) so that many chats do not retry in step. `sleep` and `random` are injectable for tests.

Every retry, and every give-up (a failure of a kind it retries, after the last attempt or with a
flood wait over `max_flood_wait`), goes to the `on_retry` hooks as a `RetryEvent`: method name,
reason and attempt, never a URL or a parameter. `bot/observability/observer.py` adds one that
counts them.
"""

from __future__ import annotations

import asyncio
import logging
import random as random_module
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

from telegram._utils.types import ODVInput  # BaseRequest's timeout type: no public name
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.telegram.api.wire import WrappingRequest, description, flood_wait, method_name

logger = logging.getLogger(__name__)

IDEMPOTENT = frozenset(
    {
        "answerCallbackQuery",
        "editMessageText",
        "editMessageReplyMarkup",
        "editMessageCaption",
        "deleteMessage",
        "getUpdates",
        "getMe",
        "getWebhookInfo",
        "setWebhook",
        "deleteWebhook",
        "setMyCommands",
        "deleteMyCommands",
        "setMyDescription",
        "setMyShortDescription",
        "sendChatAction",
    }
)
"""Methods whose repetition leaves the same result as one call."""
RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
# Exception types (top-level package + class) that are raised before any byte reached the server.
UNSENT_ERRORS = frozenset(
    {
        "httpx.ConnectError",
        "httpx.ConnectTimeout",
        "httpx.PoolTimeout",
        "aiohttp.ClientConnectorError",
        "aiohttp.ClientConnectorDNSError",
        "aiohttp.ConnectionTimeoutError",
        "builtins.ConnectionRefusedError",
    }
)
POOL_TIMEOUT = "pool timeout"
"""HTTPXRequest's (and AiohttpRequest's) message when no connection was free: nothing was sent."""
QUERY_GONE = "query is too old"
NOT_FOUND = "message to delete not found"
DONE = b'{"ok":true,"result":true}'
MAX_CAUSES = 8
FLOOD_WAIT = "flood_wait"
retries_wanted: ContextVar[bool] = ContextVar("retries_wanted", default=True)
"""False while the outbox shows a screen: a retry after a wait would send what was current
before it; the outbox tries again itself, reading the newest record (questionnaire/keeper.py)."""
PauseHook = Callable[[Awaitable[object]], Awaitable[object]]
pause_hook: ContextVar[PauseHook | None] = ContextVar("retry_pause_hook", default=None)
"""Set by the outbox around a plain job: awaits the pause before a retry, so that an urgent
result may stop the job there and go first (the outbox runs the job again after it). Only a
call this module would repeat anyway is ever paused, so running the job again repeats nothing
that was carried out."""
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
NETWORK = "network"
REASONS = (FLOOD_WAIT, SERVER_ERROR, TIMEOUT, NETWORK)
"""Why a call was retried or given up on: the only values `RetryEvent.reason` takes."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry; the defaults bound a call to about 15 s of waiting."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_flood_wait: float = 30.0


@dataclass(frozen=True, slots=True)
class RetryEvent:
    """One retry or give-up of a Bot API call; holds nothing a user sent or will see."""

    method: str
    """The Bot API method, e.g. `sendMessage` (the URL, which holds the token, is not kept)."""
    reason: str
    """One of `REASONS`."""
    attempt: int
    """The attempt that failed, from 1."""
    action: Literal["retry", "give_up"]


RetryHook = Callable[[RetryEvent], None]


def error_reason(error: BaseException) -> str:
    """Return the `REASONS` entry of a transport error: `timeout` or `network`."""
    return TIMEOUT if isinstance(error, TimedOut) else NETWORK


def is_unsent(error: BaseException) -> bool:
    """Tell whether `error` proves the request never reached the server."""
    current: BaseException | None = error
    for _ in range(MAX_CAUSES):
        if current is None:
            return False
        if POOL_TIMEOUT in str(current).lower():
            return True
        names = {
            f"{cls.__module__.partition('.')[0]}.{cls.__name__}" for cls in type(current).__mro__
        }
        # The transports name the underlying error in their message when they drop the cause.
        if names & UNSENT_ERRORS or str(current).partition(":")[0] in UNSENT_ERRORS:
            return True
        current = current.__cause__ or current.__context__
    return False


class RetryingRequest(WrappingRequest):
    """Forward calls to `inner`, repeating the ones that are safe to repeat."""

    def __init__(
        self,
        inner: BaseRequest,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        random: Callable[[], float] = random_module.random,
        on_retry: RetryHook | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._random = random
        self.on_retry: list[RetryHook] = [] if on_retry is None else [on_retry]
        """Called with every retry and give-up, in order; none by default. Hooks must not raise."""

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
        """Send the call; retry it while the policy allows; return the last answer."""
        api_method = method_name(url)
        timeouts = (read_timeout, write_timeout, connect_timeout, pool_timeout)
        if not retries_wanted.get():  # the caller redoes the call with what is current by then
            return await self.inner.do_request(url, method, request_data, *timeouts)
        for attempt in range(1, self.policy.attempts + 1):
            try:
                status, payload = await self.inner.do_request(url, method, request_data, *timeouts)
            except (TimedOut, NetworkError) as error:
                delay = self._after_error(api_method, error, attempt)
                if delay is None:
                    raise
                reason = error_reason(error)
            else:
                delay = self._after_answer(api_method, status, payload, attempt)
                if delay is None:
                    return _settle(api_method, status, payload, attempt)
                reason = answer_reason(status)
            logger.info(
                "%s failed (%s), attempt %d: retry in %.2f s", api_method, reason, attempt, delay
            )
            self._report(RetryEvent(api_method, reason, attempt, "retry"))
            hook = pause_hook.get()
            await (self._sleep(delay) if hook is None else hook(self._sleep(delay)))
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _after_error(self, api_method: str, error: BaseException, attempt: int) -> float | None:
        """Return the delay before the next attempt after `error`, or None to give up."""
        if api_method not in IDEMPOTENT and not is_unsent(error):
            return None  # it may have been carried out: never resent, so never a give-up
        if attempt >= self.policy.attempts:
            self._report(RetryEvent(api_method, error_reason(error), attempt, "give_up"))
            return None
        return self._backoff(attempt)

    def _after_answer(
        self, api_method: str, status: int, payload: bytes, attempt: int
    ) -> float | None:
        """Return the delay before the next attempt after an answer, or None to keep it."""
        wait = flood_wait(status, payload)
        if wait is None and not (status in RETRYABLE_STATUS and api_method in IDEMPOTENT):
            return None  # success, or a failure that is not retried for this method
        is_too_long = wait is not None and wait > self.policy.max_flood_wait
        if is_too_long or attempt >= self.policy.attempts:
            self._report(RetryEvent(api_method, answer_reason(status), attempt, "give_up"))
            return None
        return wait if wait is not None else self._backoff(attempt)

    def _report(self, event: RetryEvent) -> None:
        for hook in self.on_retry:
            hook(event)

    def _backoff(self, attempt: int) -> float:
        """Exponential delay for the `attempt`-th failure, scaled by a jitter in [0.5, 1)."""
        ceiling = min(self.policy.max_delay, self.policy.base_delay * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + self._random() / 2)


def answer_reason(status: int) -> str:
    """Return the `REASONS` entry of a failed answer: `flood_wait` for 429, else `server_error`."""
    return FLOOD_WAIT if status == 429 else SERVER_ERROR


def _settle(api_method: str, status: int, payload: bytes, attempt: int) -> tuple[int, bytes]:
    """Turn an answer that means "already done" into success; keep every other answer."""
    if status != 400:
        return status, payload
    text = description(payload)
    if api_method == "answerCallbackQuery" and QUERY_GONE in text:
        logger.info("callback query already answered or expired: treated as answered")
        return 200, DONE
    if api_method == "deleteMessage" and attempt > 1 and NOT_FOUND in text:
        return 200, DONE
    return status, payload
