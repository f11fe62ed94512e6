"""`/healthz` and `/metrics` as aiohttp routes, and a small server for them in polling mode.

`ops_routes(health, metrics)` returns a `RouteTableDef` that any aiohttp application can mount
with `app.add_routes(...)`: the webhook server does so in webhook mode, and `OpsServer` serves it
alone on `CRAMPCHECK_LISTEN:CRAMPCHECK_METRICS_PORT` otherwise. `/healthz` answers 200 with
`{"status": "ok", ...}` when the process is up, the knowledge base is loaded and one cheap store
read succeeds within `STORE_TIMEOUT` seconds, and 503 otherwise; it names only the failing part and
the exception type, never a message (a store error may quote its URL and password).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from bot import __version__
from bot.engine.kb.models import KnowledgeBase
from bot.observability.metrics import Metrics
from bot.store.base import SessionKey, SessionStore

logger = logging.getLogger(__name__)

STORE_TIMEOUT = 2.0
PROBE_KEY = SessionKey(chat_id=0, user_id=0, scope="health")
"""Read, never written: one keyed lookup is the cheapest call every backend has."""


class Health:
    """Tell whether the bot can serve: knowledge base loaded, store answering."""

    def __init__(self, kb: KnowledgeBase | None, store: SessionStore) -> None:
        self.kb = kb
        self.store = store

    async def check(self) -> tuple[bool, dict[str, Any]]:
        """Return whether all is well, and a JSON-ready report without any secret or id."""
        report: dict[str, Any] = {"version": __version__}
        report["knowledge_base"] = self.kb.version if self.kb is not None else "not loaded"
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.store.get(PROBE_KEY), STORE_TIMEOUT)
        except Exception as error:  # a health probe is a boundary: any failure means "down"
            logger.warning("health check: store unreachable (%s)", type(error).__name__)
            report["store"] = f"unreachable ({type(error).__name__})"
        else:
            report["store"] = "ok"
            report["store_seconds"] = round(time.perf_counter() - started, 4)
        is_ok = self.kb is not None and report["store"] == "ok"
        return is_ok, {"status": "ok" if is_ok else "unavailable", **report}


def ops_routes(health: Health, metrics: Metrics) -> web.RouteTableDef:
    """Return GET /healthz and GET /metrics, ready for `aiohttp.web.Application.add_routes`."""
    routes = web.RouteTableDef()

    @routes.get("/healthz")
    async def healthz(request: web.Request) -> web.Response:
        is_ok, report = await health.check()
        return web.json_response(report, status=200 if is_ok else 503)

    @routes.get("/metrics")
    async def metrics_page(request: web.Request) -> web.Response:
        return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return routes


class OpsServer:
    """Serve `routes` on `host:port` on the running event loop (start, then stop)."""

    def __init__(self, routes: web.RouteTableDef, *, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._routes = routes
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.add_routes(self._routes)
        # No access log: it would add a line per scrape and carries nothing we need.
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        logger.info("serving /healthz and /metrics on %s:%d", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
