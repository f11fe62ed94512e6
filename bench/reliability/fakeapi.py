"""A loopback Telegram for the harnesses: getUpdates with long polling, Bot API calls, faults.

`FakeTelegram` serves the Bot API on 127.0.0.1. Calls go to `tests.fakes.botapi.FakeBotApi`,
which keeps what each chat shows and answers like the real server; getUpdates is served here,
with Telegram's semantics: updates stay until a later call's offset confirms them, a call waits
up to `timeout` seconds for one, and a new call ends the one still waiting. `FaultPlan` makes a
share of calls fail: a 5xx, a 429 with retry_after, a reset connection, or a timeout, which
may come *after* the call took effect (the message was sent, the client never hears so).
Message calls are recorded with their arrival time, to check the rate limits afterwards.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from bench import wire
from bot.telegram.api.pacing.limiter import (
    bucket_violations,
    is_chat_paced,
    is_paced,
    over_limit,
)
from tests.fakes.botapi import Call, FakeBotApi, SentMessage

HOST = "127.0.0.1"
TOKEN = "123456789:BENCHtokenBENCHtokenBENCHtoken12345"
READ_TIMEOUT = 5.0
"""PTB's default read timeout: a timeout fault holds the answer a little longer than this."""


class IndexedBotApi(FakeBotApi):
    """FakeBotApi with each chat's messages indexed, and an event per chat set on any change.

    The base class scans every message of every chat to find a chat's latest one, which is too
    slow for a thousand simulated users watching their screens.
    """

    def __init__(self) -> None:
        super().__init__()
        self.by_chat: dict[int, dict[int, SentMessage]] = {}
        self.changed: dict[int, asyncio.Event] = {}
        self.answer_calls: dict[str, list[Call]] = {}
        self.sent_texts: dict[int, list[str]] = {}
        """Per chat, the text of every sendMessage, in order."""

    def event(self, chat_id: int) -> asyncio.Event:
        return self.changed.setdefault(chat_id, asyncio.Event())

    def _store(
        self, chat_id: int, message_id: int, params: dict[str, Any], **extra: Any
    ) -> SentMessage:
        sent = super()._store(chat_id, message_id, params, **extra)
        self.by_chat.setdefault(chat_id, {})[message_id] = sent
        self.event(chat_id).set()
        return sent

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        sent = super()._send_message(params)
        self.sent_texts.setdefault(int(params["chat_id"]), []).append(str(params["text"]))
        return sent

    def _answer_callback_query(self, params: dict[str, Any]) -> bool:
        query_id = str(params["callback_query_id"])
        self.answer_calls.setdefault(query_id, []).append(Call("answerCallbackQuery", params))
        return super()._answer_callback_query(params)  # users see it within their 0.1 s tick

    def _delete_message(self, params: dict[str, Any]) -> bool:
        result = super()._delete_message(params)
        self.by_chat.get(int(params["chat_id"]), {}).pop(int(params["message_id"]), None)
        return result

    def latest_message(self, chat_id: int, *, with_keyboard: bool = False) -> SentMessage | None:
        candidates = [
            sent
            for sent in self.by_chat.get(chat_id, {}).values()
            if sent.reply_markup or not with_keyboard
        ]
        return max(candidates, key=lambda sent: sent.seq, default=None)

    def latest_screen(self, chat_id: int) -> SentMessage | None:
        """Return the chat's questionnaire screen: the latest message with `q:` buttons (the
        welcome's trip-card button is no screen, and may arrive after the first question)."""
        screens = [
            sent
            for sent in self.by_chat.get(chat_id, {}).values()
            if any(
                str(button.get("callback_data", "")).startswith("q:")
                for row in (sent.reply_markup or {}).get("inline_keyboard", [])
                for button in row
            )
        ]
        return max(screens, key=lambda sent: sent.seq, default=None)


@dataclass
class FaultPlan:
    """Chances (0..1) that a call fails in each way; getUpdates gets `poll_share` of them."""

    server_error: float = 0.0
    flood: float = 0.0
    reset: float = 0.0
    timeout: float = 0.0
    timeout_after: float = 0.0
    reset_after: float = 0.0
    poll_share: float = 0.2
    seed: int = 1
    rng: random.Random = field(init=False)
    injected: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def pick(self, method: str) -> str | None:
        """Return the fault for this call, or None."""
        scale = self.poll_share if method == "getUpdates" else 1.0
        roll = self.rng.random()
        for kind in ("server_error", "flood", "reset", "timeout", "timeout_after", "reset_after"):
            chance = getattr(self, kind) * scale
            if roll < chance:
                self.injected[kind] += 1
                return kind
            roll -= chance
        return None


@dataclass(frozen=True)
class Arrival:
    """A message call (send*/edit*) as the server saw it."""

    at: float
    method: str
    chat: int


JITTER = 0.05
"""Seconds of loopback delay forgiven when timing arrivals against a chat's bucket."""


class FakeTelegram:
    """The loopback Bot API plus Telegram's update queue."""

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self.api = IndexedBotApi()
        self.faults = faults or FaultPlan()
        self.pending: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.deliveries: dict[int, set[int]] = {}
        """Update id -> the bot runs (see `run`) that received it."""
        self.run = 0
        """Which bot process is running: the harness counts its starts."""
        self.arrivals: list[Arrival] = []
        self.answers: Counter[str] = Counter()
        self.polls = 0
        self._poll_generation = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/bot"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 << 20)
        app.router.add_route("POST", "/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def queue(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (what a user does in polling mode)."""
        self.pending.append(update)
        self.arrived.set()

    async def deliver(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates: a simulated user's `send` in polling mode."""
        self.queue(update)

    # --- the server ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.path.rstrip("/").rsplit("/", 1)[-1]
        params = await wire.params(request)
        fault = self.faults.pick(method)
        if fault in ("server_error", "flood", "reset", "timeout"):
            return await self._fail(request, fault)
        if method == "getUpdates":
            response = await self._get_updates(params)
        else:
            response = await self._call(request, method, params)
        if fault == "timeout_after":  # it happened, but the client will not hear of it
            await asyncio.sleep(READ_TIMEOUT + 0.5)
        if fault == "reset_after" and request.transport is not None:
            request.transport.abort()
        return response

    async def _fail(self, request: web.Request, fault: str) -> web.StreamResponse:
        if fault == "server_error":
            body = {"ok": False, "error_code": 502, "description": "Bad Gateway"}
            return web.json_response(body, status=502)
        if fault == "flood":
            wait = self.faults.rng.choice((1, 2))
            body = {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {wait}",
                "parameters": {"retry_after": wait},
            }
            return web.json_response(body, status=429)
        if fault == "reset" and request.transport is not None:
            request.transport.abort()
            return web.Response(status=500)
        await asyncio.sleep(READ_TIMEOUT + 0.5)
        return web.json_response(
            {"ok": False, "error_code": 504, "description": "late"}, status=504
        )

    async def _call(
        self, request: web.Request, method: str, params: dict[str, str]
    ) -> web.Response:
        if is_paced(method) and "chat_id" in params:
            self.arrivals.append(Arrival(time.monotonic(), method, int(params["chat_id"])))
        if method == "answerCallbackQuery":
            self.answers[params.get("callback_query_id", "")] += 1
        data = SimpleNamespace(parameters=params)
        status, body = await self.api.do_request(str(request.url), "POST", data)  # type: ignore[arg-type]
        return web.Response(status=status, body=body, content_type="application/json")

    async def _get_updates(self, params: dict[str, str]) -> web.Response:
        self.polls += 1
        self._poll_generation += 1
        generation = self._poll_generation
        offset = int(params.get("offset") or 0)
        if offset:
            self.pending = [update for update in self.pending if update["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self.pending and generation == self._poll_generation:
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout=min(remaining, 0.5))
            except TimeoutError:
                continue
        if generation != self._poll_generation:  # Telegram ends the older of two long polls
            body = {
                "ok": False,
                "error_code": 409,
                "description": "Conflict: terminated by other getUpdates request",
            }
            return web.json_response(body, status=409)
        batch = self.pending[: int(params.get("limit") or 100)]
        for update in batch:
            self.deliveries.setdefault(update["update_id"], set()).add(self.run)
        return web.json_response({"ok": True, "result": batch})

    # --- figures ------------------------------------------------------------------------------

    def rate_violations(
        self, *, per_chat: float = 1.0, burst: int = 3, per_second: int = 30
    ) -> dict[str, int]:
        """Count new messages a chat's token bucket (`burst`, `per_chat`/s) would have refused,
        and calls that found `per_second` others in the second up to them (`over_limit`).

        Edits count in the total only: they put no new message in the chat (api/pacing/limiter.py).
        """
        by_chat: dict[int, list[float]] = {}
        for arrival in self.arrivals:
            if is_chat_paced(arrival.method):
                by_chat.setdefault(arrival.chat, []).append(arrival.at)
        chat_violations = sum(
            bucket_violations(times, rate=per_chat, burst=burst, slack=JITTER)
            for times in by_chat.values()
        )
        over = over_limit((arrival.at for arrival in self.arrivals), limit=per_second)
        return {"chat": chat_violations, "total": over}

    def redelivered(self) -> int:
        """Updates that more than one bot process received (sent again after a kill)."""
        return sum(1 for runs in self.deliveries.values() if len(runs) > 1)

    def repeated_answers(self) -> int:
        """Callback queries the bot answered more than once (the repeats)."""
        return sum(count - 1 for count in self.answers.values() if count > 1)


def jsonable(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True)
