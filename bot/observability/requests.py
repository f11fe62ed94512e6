"""Bot API requests as metrics: every attempt and its failure (`CountingRequest`), and the
calls the retry policy sent again or gave up on (`RetryCounters`).

`CountingRequest` is a PTB `BaseRequest` that counts Bot API requests, errors and retries.
It wraps the transport that does the I/O (HTTPXRequest, AiohttpRequest or a test fake) and only
counts; it never retries, delays or changes a request. A retry wrapper goes *outside* it: PTB hands
every attempt the same `RequestData` object, so an attempt whose `RequestData` failed before is
counted as a retry of that failure's kind. (A wrapper that cannot resend through this one calls
`Metrics.record_api_retry` itself.) Only kinds are recorded: never a URL, which holds the token,
nor any parameter, which holds what the bot says to a user.

`RetryCounters` keeps two counters on the bot's own registry, each by `method` and `reason`:
`crampcheck_bot_api_call_retries_total` (a call was sent again after a failure) and
`crampcheck_bot_api_give_ups_total` (a call failed for a reason that is retried, but its attempts
were used up or its flood wait was too long). Both label sets are fixed and small: the methods the
bot calls (anything else is `other`) and `REASONS` from `retry.py`; an event carries no id and no
text, so none can become a label. `Observer.attach` hooks `record` into every `RetryingRequest` of
the application's request chains.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter
from telegram import Bot
from telegram._utils.types import ODVInput  # BaseRequest's timeout type: no public name
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.observability.metrics import OTHER, Metrics, pick
from bot.telegram.api.retry import REASONS, RetryEvent, RetryingRequest
from bot.telegram.api.wire import WrappingRequest

STATUS_KINDS: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    429: "flood",
}
REMEMBERED_FAILURES = 1024
"""How many failed requests are remembered to recognise their retries (oldest forgotten first)."""


def status_kind(status: int) -> str | None:
    """Return the error kind of an HTTP status from the Bot API, or None for success."""
    if 200 <= status < 300:
        return None
    return STATUS_KINDS.get(status, "server" if status >= 500 else "other")


class CountingRequest(WrappingRequest):
    """Forward every request to `inner`, counting it, its failure kind and any retry of it."""

    def __init__(self, inner: BaseRequest, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics
        # Holding the failed RequestData keeps its id() from being reused by a new request.
        self._failed: OrderedDict[int, tuple[RequestData, str]] = OrderedDict()

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
        """Count the attempt, forward it, and count its failure kind if it fails."""
        self._metrics.api_requests.inc()
        self._note_retry(request_data)
        try:
            status, body = await self.inner.do_request(
                url,
                method,
                request_data,
                read_timeout=read_timeout,
                write_timeout=write_timeout,
                connect_timeout=connect_timeout,
                pool_timeout=pool_timeout,
            )
        except TimedOut:  # a subclass of NetworkError: test it first
            self._fail(request_data, "timeout")
            raise
        except NetworkError:
            self._fail(request_data, "network")
            raise
        kind = status_kind(status)
        if kind is not None:
            self._fail(request_data, kind)
        return status, body

    def _note_retry(self, request_data: RequestData | None) -> None:
        if request_data is None:
            return
        failed = self._failed.pop(id(request_data), None)
        if failed is not None and failed[0] is request_data:
            self._metrics.record_api_retry(failed[1])

    def _fail(self, request_data: RequestData | None, kind: str) -> None:
        self._metrics.record_api_error(kind)
        if request_data is None:
            return
        self._failed[id(request_data)] = (request_data, kind)
        while len(self._failed) > REMEMBERED_FAILURES:
            self._failed.popitem(last=False)


METHODS: Final = (
    "getMe",
    "getUpdates",
    "getWebhookInfo",
    "setWebhook",
    "deleteWebhook",
    "setMyCommands",
    "sendMessage",
    "editMessageText",
    "editMessageReplyMarkup",
    "deleteMessage",
    "answerCallbackQuery",
    OTHER,
)
"""The Bot API methods the bot calls: the `method` label's values."""
MAX_DEPTH = 16
"""How many wrappers deep a request chain is searched (ours are four)."""


class RetryCounters:
    """Count `RetryEvent`s by method and reason; every series starts at 0."""

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["method", "reason"]
        self.retries = Counter(
            "crampcheck_bot_api_call_retries",
            "Bot API calls sent again by the retry policy, by method and the failure's reason.",
            labels,
            registry=registry,
        )
        self.give_ups = Counter(
            "crampcheck_bot_api_give_ups",
            "Bot API calls that failed for a reason that is retried, after the last attempt "
            "or with a flood wait too long to sit out, by method and reason.",
            labels,
            registry=registry,
        )
        for method in METHODS:
            for reason in REASONS:
                self.retries.labels(method=method, reason=reason)
                self.give_ups.labels(method=method, reason=reason)

    def record(self, event: RetryEvent) -> None:
        """Count one retry or give-up (a `RetryingRequest` hook)."""
        counter = self.retries if event.action == "retry" else self.give_ups
        method, reason = pick(event.method, METHODS), pick(event.reason, REASONS)
        counter.labels(method=method, reason=reason).inc()

    def watch(self, bot: Bot) -> int:
        """Hook `record` into each `RetryingRequest` of `bot`'s request chains; return how many."""
        found = 0
        for retrying in retrying_requests(bot):
            if self.record not in retrying.on_retry:
                retrying.on_retry.append(self.record)
            found += 1
        return found


def retrying_requests(bot: Bot) -> Iterator[RetryingRequest]:
    """Yield every `RetryingRequest` in the chains of `bot`: its calls' and getUpdates'."""
    # PTB keeps (getUpdates request, other calls' request) in `Bot._request`; only the second
    # has a public property (`Bot.request`), and getUpdates has a retrying chain of its own.
    seen: set[int] = set()
    for outer in bot._request:
        for request in chain(outer):
            if isinstance(request, RetryingRequest) and id(request) not in seen:
                seen.add(id(request))
                yield request


def chain(request: BaseRequest) -> Iterator[BaseRequest]:
    """Yield `request` and each request it wraps, outside in."""
    current: BaseRequest | None = request
    for _ in range(MAX_DEPTH):
        if current is None:
            return
        yield current
        current = current.inner if isinstance(current, WrappingRequest) else None
