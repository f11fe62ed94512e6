"""`CountingRequest`: a PTB `BaseRequest` that counts Bot API requests, errors and retries.

It wraps the transport that does the I/O (HTTPXRequest, AiohttpRequest or a test fake) and only
counts; it never retries, delays or changes a request. A retry wrapper goes *outside* it: PTB hands
every attempt the same `RequestData` object, so an attempt whose `RequestData` failed before is
counted as a retry of that failure's kind. (A wrapper that cannot resend through this one calls
`Metrics.record_api_retry` itself.) Only kinds are recorded: never a URL, which holds the token,
nor any parameter, which holds what the bot says to a user.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

from telegram._utils.types import ODVInput  # BaseRequest's timeout type: no public name
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

from bot.observability import Metrics
from bot.telegram.wire import WrappingRequest

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
