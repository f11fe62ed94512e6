"""How far above Telegram's limits do two workers go? The shared limiter against per-process ones.

A loopback "Telegram" records when each sendMessage arrives (its own monotonic clock). Two worker
processes each build the bot's real request chain (`reliable_request` on `AiohttpRequest`, with
the default limits: 28 messages/s in all; per chat a burst of 3, then 1/s) and send as fast as
it lets them, all at once, to the same chats. `--mode shared` gives them a Redis store URL, so
they pace together through Redis; `--mode local` a memory store, so each paces itself.

    python -m bench.reliability.ratelimit --mode shared --mode local

Figures per mode: messages, seconds, the most arrivals in any one-second window (28/s paced
exactly puts 29 in a closed second), arrivals that were the 31st or later in the second up to
them (above Telegram's 30/s), and arrivals that the chat's token bucket would have refused
(`bucket_violations`, forgiving `JITTER` of loopback delay).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from bisect import bisect_right
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import SecretStr
from telegram.request import RequestData

# RequestData is made of these; PTB has no public way to build one.
from telegram.request._requestparameter import RequestParameter

from bench import wire
from bench.reliability.common import redis_url, wipe_redis
from bench.reliability.fakeapi import HOST, TOKEN
from bot.config import Settings
from bot.store import open_store, shared_client
from bot.telegram.api.chain import reliable_request
from bot.telegram.api.pacing.limiter import bucket_violations, over_limit
from bot.telegram.api.transport import AiohttpRequest

STORES: dict[str, Callable[[], str]] = {"shared": redis_url, "local": lambda: "memory://"}
JITTER = 0.05
"""Seconds forgiven when arrivals are judged against a chat's bucket. The limiter paces the starts
of calls, exactly at the limit; the server sees them after the worker's event loop and the
loopback, whose delay varies by up to about 20 ms under this load."""


def in_last_second(times: list[float]) -> list[int]:
    """For each arrival, how many arrived in the second up to it, itself included."""
    times = sorted(times)
    return [n + 1 - bisect_right(times, at - 1.0) for n, at in enumerate(times)]


def beyond_buckets(arrivals: list[tuple[float, int]], settings: Settings) -> int:
    """Count the arrivals that their chat's token bucket (the settings' limits) would refuse."""
    by_chat: dict[int, list[float]] = {}
    for at, chat in arrivals:
        by_chat.setdefault(chat, []).append(at)
    rate, burst = settings.rate_limit_chat, settings.rate_limit_chat_burst
    return sum(
        bucket_violations(times, rate=rate, burst=burst, slack=JITTER)
        for times in by_chat.values()
    )


async def serve(arrivals: list[tuple[float, int]]) -> web.AppRunner:
    async def method(request: web.Request) -> web.Response:
        params = await wire.params(request)
        arrivals.append((time.monotonic(), int(params["chat_id"])))
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_post(f"/bot{TOKEN}/sendMessage", method)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    return runner


async def run_mode(mode: str, *, messages: int, chats: int) -> dict[str, Any]:
    arrivals: list[tuple[float, int]] = []
    runner = await serve(arrivals)
    port = runner.addresses[0][1]
    start_at = time.time() + 2.0  # both workers are up and connected by then
    args = [str(port), STORES[mode](), str(messages), str(chats), repr(start_at)]
    command = [sys.executable, "-m", "bench.reliability.ratelimit", "--worker", *args]
    workers = [await asyncio.create_subprocess_exec(*command) for _ in range(2)]
    await asyncio.gather(*(worker.wait() for worker in workers))
    await runner.cleanup()
    times = [at for at, _ in arrivals]
    counts = in_last_second(times)
    return {
        "mode": mode,
        "messages": len(arrivals),
        "seconds": round(max(times) - min(times), 2),
        "most in one second": max(counts),
        "above 30/s": over_limit(times, limit=30),
        "beyond a chat's bucket": beyond_buckets(arrivals, settings(STORES[mode]())),
    }


def settings(store: str) -> Settings:
    """The bot's default settings (its limits) on `store`."""
    return Settings(_env_file=None, token=SecretStr(TOKEN), store=store)


async def work(port: int, store: str, messages: int, chats: int, start_at: float) -> None:
    opened = await open_store(store, ttl_seconds=None)  # a Redis store lends its client
    transport = AiohttpRequest(connection_pool_size=256)
    request = reliable_request(settings(store), transport, redis=shared_client(opened))
    await request.initialize()
    url = f"http://{HOST}:{port}/bot{TOKEN}/sendMessage"

    async def send(chat: int) -> None:
        parameters = [RequestParameter.from_input(k, v) for k, v in (("chat_id", chat),)]
        await request.post(url, RequestData([*parameters]))

    await asyncio.sleep(max(0.0, start_at - time.time()))
    await asyncio.gather(*(send(n % chats) for n in range(messages)))
    await request.shutdown()
    await opened.close()


def main() -> None:
    if sys.argv[1:2] == ["--worker"]:
        port, store, messages, chats, start_at = sys.argv[2:]
        asyncio.run(work(int(port), store, int(messages), int(chats), float(start_at)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", action="append", choices=sorted(STORES), required=True)
    parser.add_argument("--messages", type=int, default=150, help="per worker")
    parser.add_argument("--chats", type=int, default=30)
    options = parser.parse_args()
    for mode in options.mode:
        asyncio.run(wipe_redis())
        figures = asyncio.run(run_mode(mode, messages=options.messages, chats=options.chats))
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
