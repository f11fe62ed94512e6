"""The Bot API request chain the bot runs on: retries, rate limits and screened updates.

Outside in: `RetryingRequest` (retry what is safe, honour 429), `UpdateScreen` (every update in a
getUpdates answer parses), `RateLimitedRequest` (about 30 messages/s in all, 1/s per chat), then
the transport that does the I/O (HTTPXRequest unless another is given, e.g. `AiohttpRequest`).
`build_application` builds one chain for the bot's calls and one for the long poll (a transport
of its own, as in PTB's builder): retries and the screen matter to both, and the limiter lets
getUpdates through untouched.
"""

from __future__ import annotations

from telegram.request import BaseRequest, HTTPXRequest

from bot.config import Settings
from bot.telegram.intake import UpdateScreen
from bot.telegram.ratelimit import RateLimitedRequest, RateLimiter
from bot.telegram.retry import RetryingRequest

POOL_SIZE = 256
"""PTB's default pool for the bot's calls (ApplicationBuilder._build_request)."""


def reliable_request(settings: Settings, transport: BaseRequest | None = None) -> BaseRequest:
    """Return the request chain around `transport` (a pooled HTTPXRequest by default)."""
    limiter = RateLimiter(per_second=settings.rate_limit_total, per_chat=settings.rate_limit_chat)
    inner = transport if transport is not None else HTTPXRequest(connection_pool_size=POOL_SIZE)
    return RetryingRequest(UpdateScreen(RateLimitedRequest(inner, limiter)))
