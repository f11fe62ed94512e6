"""`RetryCounters`: the Bot API calls `RetryingRequest` sent again, and those it gave up on.

Two counters on the bot's own registry, each by `method` and `reason`:
`crampcheck_bot_api_call_retries_total` (a call was sent again after a failure) and
`crampcheck_bot_api_give_ups_total` (a call failed for a reason that is retried, but its attempts
were used up or its flood wait was too long). Both label sets are fixed and small: the methods
the bot calls (anything else is `other`) and `REASONS` from `retry.py`; an event carries no id
and no text, so none can become a label. `Observer.attach` hooks `record` into every
`RetryingRequest` of the application's request chains.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from prometheus_client import CollectorRegistry, Counter
from telegram import Bot
from telegram.request import BaseRequest

from bot.observability.metrics import OTHER, pick
from bot.telegram.api.retry import REASONS, RetryEvent, RetryingRequest
from bot.telegram.api.wire import WrappingRequest

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
