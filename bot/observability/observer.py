"""`Observer`: wires metrics, the health check and the ops server into one bot process.

`build_application(..., observer=Observer(settings, kb))` asks it to wrap the store (latency) and
the Bot API transport (errors and retries), to attach the update timer and the retry counters
(hooked into each `RetryingRequest` of the bot's request chains), and to start and stop the
`/healthz` + `/metrics` server when `CRAMPCHECK_METRICS_PORT` is set; the questionnaire calls its
`on_result` once per new result (an after-result hook handed to the features by app.py).
The webhook server mounts the same endpoints: `serve(..., extra_routes=observer.routes())`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from telegram import Bot
from telegram.ext import Application
from telegram.request import BaseRequest, HTTPXRequest

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.engine.questionnaire.machine import Result
from bot.observability.http import Health, OpsServer, ops_routes
from bot.observability.metrics import Metrics
from bot.observability.requests import CountingRequest, RetryCounters
from bot.observability.timed_store import InstrumentedStore
from bot.observability.update_timer import UpdateTimer
from bot.store.base import SessionKey, SessionStore

logger = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
POOL_SIZE = 256
"""PTB's default pool for the bot's calls (ApplicationBuilder._build_request)."""


class Observer:
    """Everything an operator sees of one bot process, built from the settings."""

    def __init__(
        self, settings: Settings, kb: KnowledgeBase, *, metrics: Metrics | None = None
    ) -> None:
        self.settings = settings
        self.kb = kb
        self.metrics = metrics if metrics is not None else Metrics(kb)
        # On the same registry, so /metrics shows them; hence one Observer per Metrics.
        self.retries = RetryCounters(self.metrics.registry)
        self.health: Health | None = None
        self.server: OpsServer | None = None

    def wrap_store(self, store: SessionStore) -> SessionStore:
        """Return `store` with every call timed; the health check reads the store itself."""
        self.health = Health(self.kb, store)
        return InstrumentedStore(store, self.metrics)

    def count(self, transport: BaseRequest | None) -> BaseRequest:
        """Return `transport` (default: PTB's pooled HTTPXRequest) wrapped in CountingRequest.

        It belongs innermost, right around the I/O, so that a retry wrapper outside it (the
        bot's `reliable_request` chain) has each of its attempts counted.
        """
        inner = (
            transport if transport is not None else HTTPXRequest(connection_pool_size=POOL_SIZE)
        )
        return CountingRequest(inner, self.metrics)

    def attach(self, app: AnyApplication) -> None:
        """Time every update and count every Bot API retry and give-up.

        New results are counted by `on_result`, which the application hands to the
        questionnaire as one of its after-result hooks (app.py).
        """
        UpdateTimer(self.metrics).attach(app)
        watched = self.retries.watch(app.bot)
        logger.debug("counting the retries of %d retrying request chain(s)", watched)

    async def on_result(self, bot: Bot, key: SessionKey, result: Result, language: str) -> None:
        """Count a new result by level and top cause; the key and language are not used."""
        self.metrics.record_result(result)

    def routes(self) -> web.RouteTableDef:
        """Return /healthz and /metrics for any aiohttp application (the webhook server's)."""
        if self.health is None:
            raise RuntimeError("wrap_store() first: the health check needs the store")
        return ops_routes(self.health, self.metrics)

    async def start(self) -> None:
        """Serve /healthz and /metrics on CRAMPCHECK_LISTEN:CRAMPCHECK_METRICS_PORT, if set."""
        port = self.settings.metrics_port
        if port is None or self.server is not None:
            return
        server = OpsServer(self.routes(), host=self.settings.listen, port=port)
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None
