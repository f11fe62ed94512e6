"""The Bot API request chain the bot runs on: retries and pacing around the HTTP transport.

Outside in: `RetryingRequest` (retry what is safe, honour 429), `RateLimitedRequest` (about 30
messages/s in all; per chat a short burst, then 1/s), then the transport that does the I/O
(HTTPXRequest unless another is given, e.g. `AiohttpRequest`). `build_application` builds one
chain for the bot's calls and one for the long poll (a transport of its own, as in PTB's
builder): retries matter to both, and the limiter lets getUpdates through untouched. Unreadable
updates in a getUpdates answer are dealt with where they are parsed, one by one
(`CrampBot.get_updates`).

With a Redis store (several workers may share it) the limiter keeps its pace in that Redis, so
the limits hold for all workers together (pacing/shared.py); otherwise it paces this process.
It uses the store's Redis client (`bot.store.shared_client`: one connection pool per process,
which the store opens and closes).

The transport is picked by `CRAMPCHECK_HTTP` (`http_transport`): `aiohttp` (the default) is
`transport.AiohttpRequest`, several times cheaper per call than PTB's httpx-based `HTTPXRequest`
(`httpx`), which stays available as the fallback. As in PTB's `ApplicationBuilder`, the bot's
calls share a pool of 256 connections and getUpdates gets an instance of its own with one
connection, so a long poll neither waits for nor holds a slot the calls need; `Bot.get_updates`
adds the poll's timeout to that instance's read timeout.
"""

from __future__ import annotations

from typing import Any, Literal

from telegram.request import BaseRequest, HTTPXRequest

from bot.config import Settings
from bot.telegram.api.pacing.limiter import Pacer, RateLimitedRequest, RateLimiter
from bot.telegram.api.retry import RetryingRequest
from bot.telegram.api.transport import AiohttpRequest

HttpKind = Literal["aiohttp", "httpx"]
POOL_SIZE = 256
"""PTB's default pool for the bot's calls (ApplicationBuilder._build_request)."""
UPDATES_POOL_SIZE = 1
"""PTB's default pool for getUpdates: one long poll at a time."""


def reliable_request(
    settings: Settings, transport: BaseRequest | None = None, *, redis: Any | None = None
) -> BaseRequest:
    """Return the request chain around `transport` (a pooled HTTPXRequest by default).

    `redis`: the store's Redis client, if the store is Redis (`bot.store.shared_client`).
    """
    inner = transport if transport is not None else HTTPXRequest(connection_pool_size=POOL_SIZE)
    return RetryingRequest(RateLimitedRequest(inner, rate_limiter(settings, redis=redis)))


def rate_limiter(settings: Settings, *, redis: Any | None = None) -> Pacer:
    """Return the limiter for the settings: shared through the store's Redis, else in-process.

    With both limits off there is nothing to share, and the limiter never touches Redis.
    """
    per_second, per_chat = settings.rate_limit_total, settings.rate_limit_chat
    burst = settings.rate_limit_chat_burst
    if redis is not None and (per_second or per_chat):
        # Imported here so that the redis package stays an optional extra.
        from bot.telegram.api.pacing.shared import SharedRateLimiter

        return SharedRateLimiter(redis, per_second=per_second, per_chat=per_chat, burst=burst)
    return RateLimiter(per_second=per_second, per_chat=per_chat, burst=burst)


def http_transport(kind: HttpKind, *, for_updates: bool = False) -> BaseRequest:
    """Return a new transport of `kind`: for the bot's calls, or for getUpdates alone."""
    size = UPDATES_POOL_SIZE if for_updates else POOL_SIZE
    if kind == "httpx":
        return HTTPXRequest(connection_pool_size=size)
    return AiohttpRequest(connection_pool_size=size)
