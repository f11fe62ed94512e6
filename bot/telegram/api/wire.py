"""What the request wrappers read off one Bot API call: its method, its chat, a flood wait.

`RetryingRequest` and `RateLimitedRequest` sit between PTB and the HTTP transport,
where a call is a URL, a `RequestData` and a raw `(status, body)` answer. The URL holds the bot
token, so these helpers return the method name only and nothing here ever logs a URL.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from telegram.request import BaseRequest, RequestData


def method_name(url: str) -> str:
    """Return the Bot API method of `url` (its last path segment), e.g. `sendMessage`."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def chat_of(request_data: RequestData | None) -> int | str | None:
    """Return the `chat_id` parameter of a call, if it has one."""
    if request_data is None:
        return None
    chat: Any = request_data.parameters.get("chat_id")
    return chat if isinstance(chat, int | str) else None


def error_body(payload: bytes) -> dict[str, Any]:
    """Return the JSON object of an error answer, or {} when it is not one."""
    try:
        body = json.loads(payload)
    except (ValueError, RecursionError):
        return {}
    return body if isinstance(body, dict) else {}


def description(payload: bytes) -> str:
    """Return the `description` of an error answer, lower-cased ("" when there is none)."""
    text = error_body(payload).get("description")
    return text.lower() if isinstance(text, str) else ""


def flood_wait(status: int, payload: bytes) -> float | None:
    """Return the seconds a 429 answer asks to wait (`parameters.retry_after`), else None."""
    if status != 429:
        return None
    parameters = error_body(payload).get("parameters")
    wait = parameters.get("retry_after") if isinstance(parameters, dict) else None
    return float(wait) if isinstance(wait, int | float) and wait >= 0 else 1.0


def seconds(value: int | float | timedelta) -> float:
    """Return `RetryAfter.retry_after` in seconds: an int, or a timedelta under PTB_TIMEDELTA=1."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class WrappingRequest(BaseRequest):
    """A request that wraps another (`inner`): timeouts, start-up and shut-down pass through.

    The wrappers (intake screen, rate limiter, retries, metrics) override only `do_request`.
    """

    inner: BaseRequest

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()
