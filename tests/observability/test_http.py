"""/healthz and /metrics over real HTTP on 127.0.0.1: on their own server and mounted elsewhere."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.observability.http import Health, OpsServer, ops_routes
from bot.observability.metrics import Metrics
from bot.observability.observer import Observer
from bot.store.memory import MemoryStore
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore
from bot.telegram.app import build_application
from tests.fakes.botapi import FakeBotApi
from tests.observability.conftest import free_port

pytestmark = pytest.mark.usefixtures("real_network")


@asynccontextmanager
async def serving(routes: web.RouteTableDef) -> AsyncIterator[str]:
    """Serve `routes` on a free loopback port; yield the base URL."""
    server = OpsServer(routes, host="127.0.0.1", port=free_port())
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def fetch(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as client, client.get(url) as response:
        return response.status, response.headers["Content-Type"], await response.text()


async def test_healthz_is_ok_with_a_loaded_kb_and_a_reachable_store(
    kb: KnowledgeBase, sqlite_store: SqliteStore, metrics: Metrics
) -> None:
    async with serving(ops_routes(Health(kb, sqlite_store), metrics)) as base:
        status, kind, body = await fetch(f"{base}/healthz")

    assert (status, kind) == (200, "application/json; charset=utf-8")
    assert '"status": "ok"' in body
    assert f'"knowledge_base": "{kb.version}"' in body


async def test_healthz_is_503_when_the_store_is_unreachable(
    kb: KnowledgeBase, metrics: Metrics
) -> None:
    store = RedisStore.from_url("redis://:hunter2@127.0.0.1:1/0")  # nothing listens on port 1
    try:
        async with serving(ops_routes(Health(kb, store), metrics)) as base:
            status, _, body = await fetch(f"{base}/healthz")
    finally:
        await store.close()

    assert status == 503
    assert '"status": "unavailable"' in body
    assert "hunter2" not in body
    assert "127.0.0.1:1" not in body


async def test_healthz_is_503_without_a_knowledge_base(metrics: Metrics) -> None:
    async with serving(ops_routes(Health(None, MemoryStore()), metrics)) as base:
        status, _, body = await fetch(f"{base}/healthz")

    assert status == 503
    assert '"knowledge_base": "not loaded"' in body


async def test_metrics_page_is_prometheus_text(kb: KnowledgeBase, metrics: Metrics) -> None:
    metrics.record_api_error("flood")
    async with serving(ops_routes(Health(kb, MemoryStore()), metrics)) as base:
        status, kind, body = await fetch(f"{base}/metrics")

    assert status == 200
    assert kind.startswith("text/plain")
    assert 'crampcheck_bot_api_errors_total{kind="flood"} 1.0' in body
    assert "# TYPE crampcheck_handler_seconds histogram" in body


async def test_the_routes_mount_on_any_aiohttp_application(
    kb: KnowledgeBase, metrics: Metrics
) -> None:
    """As the webhook server will: its own routes, plus ours added with add_routes."""

    async def hook(request: web.Request) -> web.Response:
        return web.Response(text="hook")

    other = web.Application()
    other.router.add_post("/telegram/hook", hook)
    other.add_routes(ops_routes(Health(kb, MemoryStore()), metrics))
    runner = web.AppRunner(other)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        status, _, _ = await fetch(f"http://127.0.0.1:{port}/healthz")
    finally:
        await runner.cleanup()

    assert status == 200


async def test_polling_bot_serves_metrics_on_its_port_from_start_to_shutdown(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi, metrics: Metrics
) -> None:
    observed = settings.model_copy(update={"metrics_port": free_port()})
    observer = Observer(observed, kb, metrics=metrics)
    app = build_application(observed, kb, MemoryStore(), request=api, observer=observer)
    url = f"http://127.0.0.1:{observed.metrics_port}"
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        status, _, body = await fetch(f"{url}/metrics")
        health, _, _ = await fetch(f"{url}/healthz")
    assert app.post_shutdown is not None
    await app.post_shutdown(app)

    assert (status, health) == (200, 200)
    assert "crampcheck_build_info" in body
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(f"{url}/healthz")


async def test_without_a_metrics_port_no_server_is_started(
    settings: Settings, kb: KnowledgeBase
) -> None:
    observer = Observer(settings, kb)
    observer.wrap_store(MemoryStore())
    await observer.start()

    assert observer.server is None
    assert len(observer.routes()) == 2
