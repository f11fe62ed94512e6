"""The webhook server (aiohttp): answer Telegram only once the update is committed.

PTB's webhook server answers 200 as soon as an update is queued, so a crash loses it, and
several workers may handle one chat's updates side by side. This one
* accepts POST only (405), with `X-Telegram-Bot-Api-Secret-Token` compared in constant time (403,
  also when it is missing), checked before the body is read;
* bounds the body (413 above `MAX_BODY_BYTES`) and refuses anything but a JSON object with an
  integer `update_id` (400);
* hands the update to `UpdateProcessor` (one chat at a time: an asyncio lock per chat, and a
  Redis lock across workers when the store is Redis) and answers 200 only after the change is
  committed, or skipped as a redelivery; on a passing failure (store or Bot API down) it answers
  500, so that Telegram delivers the update again.

Extension point: `build_webhook_app(processor, settings, extra_routes=routes)` mounts further
routes (such as /healthz and /metrics) on the same server; `serve_webhook` takes the same argument.
The application carries `WEBHOOK_ANSWERS`, a Counter of the status codes it answered.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections import Counter
from collections.abc import Iterable

from aiohttp import web

from bot.config import ConfigError, Settings
from bot.telegram.api.intake import decode_body, parse_update
from bot.telegram.delivery.processing import UpdateProcessor

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name, not a secret
MAX_BODY_BYTES = 1 << 20
"""Telegram's updates are a few KB; 1 MiB leaves room and bounds what a stranger can send."""
MAX_CONCURRENT = 64
"""Updates processed at once per worker; more wait their turn (Telegram opens at most 40
connections by default, and each update needs store connections: Redis's pool holds 100)."""
SHUTDOWN_GRACE = 20.0
"""Seconds in-flight requests get to finish when the server stops."""

PROCESSOR = web.AppKey("update_processor", UpdateProcessor)
SECRET = web.AppKey("webhook_secret", bytes)
WEBHOOK_ANSWERS = web.AppKey("webhook_answers", Counter[int])
SLOTS = web.AppKey("processing_slots", asyncio.Semaphore)
_TEXT = {200: "ok", 400: "not an update", 403: "forbidden", 405: "POST only", 413: "too large"}


def build_webhook_app(
    processor: UpdateProcessor,
    settings: Settings,
    *,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> web.Application:
    """Return the aiohttp application serving the webhook at the path of `WEBHOOK_URL`."""
    if settings.webhook_secret is None:
        raise ConfigError("CRAMPCHECK_WEBHOOK_SECRET: is required in webhook mode")
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[PROCESSOR] = processor
    app[SECRET] = settings.webhook_secret.get_secret_value().encode()
    app[WEBHOOK_ANSWERS] = Counter()
    app[SLOTS] = asyncio.Semaphore(MAX_CONCURRENT)
    app.router.add_route("*", f"/{settings.webhook_path}", on_update)
    app.add_routes(extra_routes)
    return app


async def on_update(request: web.Request) -> web.Response:
    """Check, process and acknowledge one update; see the module docstring for the answers."""
    status = await _answer(request)
    request.app[WEBHOOK_ANSWERS][status] += 1
    headers = {"Allow": "POST"} if status == 405 else None
    return web.Response(status=status, text=_TEXT.get(status, "retry later"), headers=headers)


async def _answer(request: web.Request) -> int:
    """Return the status code for this request, processing the update when it is genuine."""
    if request.method != "POST":
        return 405
    if not is_genuine(request.headers.get(SECRET_HEADER), request.app[SECRET]):
        return 403
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return 413
    try:
        body = await request.read()
    except web.HTTPRequestEntityTooLarge:  # a chunked body without Content-Length
        return 413
    data = decode_body(body)
    if data is None:
        return 400
    processor = request.app[PROCESSOR]
    async with request.app[SLOTS]:
        outcome = await processor.process(parse_update(data, processor.application.bot))
    return 200 if outcome.is_settled else 500


def is_genuine(header: str | None, secret: bytes) -> bool:
    """Compare the secret token header with ours in constant time; a missing one is false."""
    given = (header or "").encode("utf-8", "surrogateescape")
    return header is not None and hmac.compare_digest(given, secret)


async def serve_webhook(
    processor: UpdateProcessor,
    settings: Settings,
    stop: asyncio.Event,
    *,
    extra_routes: Iterable[web.AbstractRouteDef] = (),
) -> None:
    """Serve the webhook on LISTEN:PORT until `stop`; in-flight updates get time to finish."""
    app = build_webhook_app(processor, settings, extra_routes=extra_routes)
    # No access log: request lines are not secret, but nothing is logged that need not be.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.listen, settings.port).start()
        logger.info("webhook server listening on %s:%d", settings.listen, settings.port)
        await stop.wait()
    finally:
        await runner.cleanup()
