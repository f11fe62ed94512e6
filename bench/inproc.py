"""The bot's own CPU per update, with the network taken out: for steady, repeatable profiles.

    python bench/inproc.py [--updates 3000] [--profile OUT] [--store URL]

The real application (`build_bot`, the request chain, metrics, `serve` with the polling loop, a
SQLite store in a temporary directory) answers the benchmark's users (bench/workload.py, played
by bench/fake_api.py's `Run`, checks included) through a `BaseRequest` that hands each call to
the fake in the same process: no sockets, no second process, no aiohttp. What is left is the
bot's work plus the fake's small share, measured on this process's CPU clock, so two runs on the
same code agree to within a few per cent where bench/run.py's rounds differ by 30 % or more.
`--profile OUT` writes a cProfile of the run to OUT (`python -m pstats OUT`); `--store URL` runs
on another store (`memory://`, say: what the SQLite store costs is the difference). The network's
share (aiohttp, about a third of a press on the wire) is bench/run.py's to measure.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import fake_api
import workload
from telegram.request import BaseRequest, RequestData

from bot.config import Settings
from bot.observability.observer import Observer
from bot.runtime import tune_gc
from bot.store import open_store
from bot.telegram.api.chain import reliable_request
from bot.telegram.app import build_bot

TOKEN = "123456:AAbench-token-for-the-in-process-fake"


class InProcessApi(BaseRequest):
    """A transport that hands every call to the fake's `call` and answers as the server would."""

    def __init__(self, api: fake_api.FakeBotApi) -> None:
        self.api = api

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None: ...

    async def shutdown(self) -> None: ...

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, *_: object
    ) -> tuple[int, bytes]:
        params = {} if request_data is None else request_data.json_parameters
        result = await self.api.call(url.rsplit("/", 1)[-1], params)
        return 200, json.dumps({"ok": True, "result": result}).encode()


async def run(
    updates: int, profile: Path | None, directory: str, store_url: str | None = None
) -> dict[str, Any]:
    os.environ.update(
        CRAMPCHECK_TOKEN=TOKEN,
        CRAMPCHECK_STORE=store_url or f"sqlite:///{directory}/bench.db",
        CRAMPCHECK_RATE_LIMIT_TOTAL="0",  # as in bench/run.py: the limits would set the pace
        CRAMPCHECK_RATE_LIMIT_CHAT="0",
    )
    os.environ.setdefault("PTB_TIMEDELTA", "1")  # as run_bot does
    settings, kb = Settings(), workload.knowledge_base()
    store = await open_store(settings.store, ttl_seconds=settings.session_ttl_seconds)
    api = fake_api.FakeBotApi()
    config = {"users": workload.scripts(updates), "chat_base": 7_000_000_000, "validate": True,
              "expected": workload.EXPECTED_CALLS, "concurrency": 100}  # fmt: skip
    users = api.run = fake_api.Run(config, first_update_id=1)
    request = reliable_request(settings, InProcessApi(api))
    parts = build_bot(settings, kb, store, request=request, observer=Observer(settings, kb))
    stop = asyncio.Event()
    tune_gc()
    serving = asyncio.create_task(parts.serve(settings, stop=stop))
    await users.ready.wait()
    profiler = cProfile.Profile() if profile else None
    began = time.process_time()
    if profiler is not None:
        profiler.enable()
    users.start()
    await users.done.wait()
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    cpu = time.process_time() - began
    stop.set()
    await serving
    found = users.result()
    return {
        "updates": users.completed,
        "cpu_ms_per_update": 1000 * cpu / users.completed,
        "violations": found.get("violations"),
        "profiled": profile is not None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=3_000)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the run here")
    parser.add_argument("--store", help="the store's URL (default: SQLite in a temporary dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        figures = asyncio.run(run(args.updates, args.profile, directory, args.store))
    print(json.dumps(figures))
    return 1 if figures["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
