"""The benchmark's fake Bot API: a loopback aiohttp server in a process of its own, with users.

    python bench/fake_api.py PORT      # prints "listening PORT" once it serves 127.0.0.1:PORT

It answers the Bot API methods a bot under test calls (getUpdates as a long poll, sendMessage,
editMessageText, answerCallbackQuery, ...) with minimal valid JSON, and plays the simulated users
of one *run* at a time, which the orchestrator (bench/run.py) loads and starts over ``/_bench/*``:

* each user follows a script (``/start``, then button data); an update is *queued* for getUpdates,
  and it is *done* when the call that shows the next screen (a sendMessage or editMessageText with
  an inline keyboard) arrives, and for a press its answerCallbackQuery too, whichever comes last;
  latency is the time between the two, on this process's clock;
* closed loop: `concurrency` users at once, each sending its next update as soon as its screen
  arrives; open loop: updates are offered at a fixed `rate`, round robin over `slots` users (a
  user whose reply is late sends its next update when the reply arrives, and is counted late);
* every call is recorded against the update in flight in its chat (answerCallbackQuery by its
  query id), and each update's calls must be exactly the `expected` ones for its kind, in any
  order: CrampCheck answers a press and shows its screen as two calls in flight at once (issue
  12), which reach a server in either order, and Telegram takes either;
  with `validate`, each press must also be a button of the screen the bot showed last.

Only the standard library and aiohttp: it must start fast and cost little per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from aiohttp import web

# This runs as a script, from bench/; it imports bench/wire.py by the name that tests/ and
# bench/reliability use, so that the file is one module (and mypy checks it once).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import wire

BOT_USER = {"id": 4242, "is_bot": True, "first_name": "Bench", "username": "bench_bot"}
SCREENS = ("sendMessage", "editMessageText")
TRUE_METHODS = frozenset(
    {"deleteWebhook", "setWebhook", "setMyCommands", "deleteMyCommands", "close", "logOut"}
)
MAX_POLL = 1.0
"""Longest a getUpdates waits here, whatever timeout it asks for: runs start and stop quickly."""
MAX_EXAMPLES = 10


@dataclass(slots=True)
class Update:
    """One update sent to the bot, and what came back for it."""

    kind: str  # "text" or "press"
    chat: int
    queued_at: float
    calls: list[str] = field(default_factory=list)
    done_at: float | None = None
    is_shown: bool = False  # its screen came; a press is done once its answer came too


@dataclass(slots=True)
class Chat:
    """One simulated user in a private chat."""

    chat_id: int
    script: list[str]
    step: int = 0
    next_message_id: int = 1
    screen_id: int | None = None
    screen_text: str = ""
    screen_markup: dict[str, Any] | None = None
    inflight: Update | None = None
    last: Update | None = None
    owed: bool = False  # open loop: an update fell due while one was in flight

    @property
    def is_finished(self) -> bool:
        return self.step >= len(self.script)

    def take_message_id(self) -> int:
        self.next_message_id += 1
        return self.next_message_id - 1


class Run:
    """One stack's run: its users, its pending updates, and everything recorded."""

    def __init__(self, config: dict[str, Any], first_update_id: int) -> None:
        self.users: list[list[str]] = config["users"]
        self.mode: str = config.get("mode", "closed")
        self.concurrency: int = config.get("concurrency", 100)
        self.rate: float = config.get("rate", 200.0)
        self.slots: int = config.get("slots", 200)
        self.validate: bool = config.get("validate", False)
        self.chat_base: int = config["chat_base"]
        self.expected: dict[str, tuple[str, ...]] = {
            kind: tuple(calls) for kind, calls in config["expected"].items()
        }
        self.total: int = config.get("limit") or sum(len(script) for script in self.users)
        """Updates to send: every script's whole, or (open loop) a fixed number at `rate`."""
        self.next_update_id = first_update_id
        self.next_user = 0
        self.chats: dict[int, Chat] = {}
        self.slot_chats: list[Chat | None] = []
        self.updates: list[Update] = []
        self.by_query: dict[str, Update] = {}
        self.pending: deque[dict[str, Any]] = deque()
        self.arrived = asyncio.Event()
        self.ready = asyncio.Event()
        self.done = asyncio.Event()
        self.ready_at: float | None = None
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.cpu_at_start = 0.0
        self.cpu_at_end = 0.0
        self.calls: Counter[str] = Counter()
        self.violations: Counter[str] = Counter()
        self.examples: list[str] = []
        self.late = 0
        self.offered = 0
        self.completed = 0

    # --- the users ------------------------------------------------------------------------------

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.cpu_at_start = time.process_time()
        if self.mode == "open":
            self.slot_chats = [None] * self.slots
            self._tick(0)
            return
        for _ in range(min(self.concurrency, len(self.users))):
            self._send_next(self._new_chat())

    def _new_chat(self) -> Chat:
        index = self.next_user
        self.next_user += 1
        chat = Chat(self.chat_base + index, self.users[index])
        self.chats[chat.chat_id] = chat
        return chat

    def _tick(self, number: int) -> None:
        """Open loop: offer an update in the slot whose turn it is; book the next tick."""
        if self.offered >= self.total or self.started_at is None:
            return
        slot = number % self.slots
        chat = self.slot_chats[slot]
        if chat is None or (chat.is_finished and chat.inflight is None):
            chat = self._new_chat() if self.next_user < len(self.users) else None
            self.slot_chats[slot] = chat
        if chat is not None and not chat.is_finished and self.offered < self.total:
            if chat.inflight is None:
                self._send_next(chat)
            elif not chat.owed:
                chat.owed = True
                self.late += 1
        loop = asyncio.get_running_loop()
        loop.call_at(self._tick_time(number + 1), self._tick, number + 1)

    def _tick_time(self, number: int) -> float:
        # asyncio's clock is time.monotonic, the clock every timestamp here is taken on.
        assert self.started_at is not None
        return self.started_at + number / self.rate

    def _send_next(self, chat: Chat) -> None:
        """Queue the chat's next update for getUpdates."""
        step = chat.script[chat.step]
        chat.step += 1
        chat.owed = False
        self.offered += 1
        update_id = self.next_update_id
        self.next_update_id += 1
        kind = "text" if step.startswith("/") else "press"
        record = Update(kind, chat.chat_id, time.monotonic())
        self.updates.append(record)
        chat.inflight = record
        if kind == "text":
            body = self._text_update(chat, update_id, step)
        else:
            body = self._press_update(chat, update_id, step, record)
        self.pending.append(body)
        self.arrived.set()

    def _user(self, chat: Chat) -> dict[str, Any]:
        return {"id": chat.chat_id, "is_bot": False, "first_name": "Runner", "language_code": "en"}

    def _chat_json(self, chat: Chat) -> dict[str, Any]:
        return {"id": chat.chat_id, "type": "private", "first_name": "Runner"}

    def _text_update(self, chat: Chat, update_id: int, text: str) -> dict[str, Any]:
        message = {
            "message_id": chat.take_message_id(),
            "from": self._user(chat),
            "chat": self._chat_json(chat),
            "date": int(time.time()),
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}],
        }
        return {"update_id": update_id, "message": message}

    def _press_update(
        self, chat: Chat, update_id: int, data: str, record: Update
    ) -> dict[str, Any]:
        if chat.screen_id is None:
            self._violation("press before any screen")
        elif self.validate and data not in _button_data(chat.screen_markup):
            self._violation("press not on the screen the bot showed")
        query_id = str(update_id)
        self.by_query[query_id] = record
        message = {
            "message_id": chat.screen_id or 0,
            "from": BOT_USER,
            "chat": self._chat_json(chat),
            "date": int(time.time()),
            "text": chat.screen_text,
        }
        if chat.screen_markup is not None:
            message["reply_markup"] = chat.screen_markup
        query = {
            "id": query_id,
            "from": self._user(chat),
            "message": message,
            "chat_instance": str(chat.chat_id),
            "data": data,
        }
        return {"update_id": update_id, "callback_query": query}

    # --- the bot's calls ------------------------------------------------------------------------

    def note_poll(self) -> None:
        if self.ready_at is None:
            self.ready_at = time.monotonic()
            self.ready.set()

    def screen_call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Record a sendMessage or editMessageText; return the Message it made or changed."""
        chat = self._chat_of(method, params)
        markup = _markup(params.get("reply_markup"))
        text = str(params.get("text", ""))
        if chat is None:
            return _message(int(params.get("chat_id") or 0), 1, text, markup)
        if method == "editMessageText":
            message_id = int(params.get("message_id") or 0)
            if message_id != chat.screen_id:
                self._violation("edit of a message that is not the screen")
        else:
            message_id = chat.take_message_id()
        if _is_questionnaire(markup):  # not the welcome's 🧭 trip-card button
            chat.screen_id, chat.screen_text, chat.screen_markup = message_id, text, markup
            record = chat.inflight
            if record is not None:
                record.is_shown = True
                if record.kind != "press" or "answerCallbackQuery" in record.calls:
                    self._complete(chat)
        return _message(chat.chat_id, message_id, text, markup)

    def other_call(self, method: str, params: dict[str, Any]) -> None:
        """Record any other call that names a chat (editMessageReplyMarkup, ...)."""
        self._chat_of(method, params)

    def answer_call(self, params: dict[str, Any]) -> None:
        self.calls["answerCallbackQuery"] += 1
        record = self.by_query.get(str(params.get("callback_query_id")))
        if record is None:
            self._violation("answer to an unknown callback query")
            return
        record.calls.append("answerCallbackQuery")
        if record.done_at is not None:
            self._violation("answer after the update was done")
        elif record.is_shown:  # the screen came first: the press is done now
            chat = self.chats.get(record.chat)
            if chat is not None and chat.inflight is record:
                self._complete(chat)

    def _chat_of(self, method: str, params: dict[str, Any]) -> Chat | None:
        self.calls[method] += 1
        chat = self.chats.get(int(params.get("chat_id") or 0))
        if chat is None:
            self._violation(f"{method} to an unknown chat")
            return None
        record = chat.inflight or chat.last
        if record is None:
            self._violation(f"{method} before any update")
            return None
        record.calls.append(method)
        if chat.inflight is None:
            self._violation(f"{method} after the update was done")
        return chat

    def _complete(self, chat: Chat) -> None:
        record = chat.inflight
        if record is None:
            return
        record.done_at = time.monotonic()
        self.completed += 1
        chat.inflight, chat.last = None, record
        if self.mode == "closed":
            if not chat.is_finished:
                self._send_next(chat)
            elif self.next_user < len(self.users):
                self._send_next(self._new_chat())
        elif chat.owed and not chat.is_finished and self.offered < self.total:
            self._send_next(chat)
        self._check_done()

    def _check_done(self) -> None:
        if self.offered >= self.total and self.completed == self.offered:
            self.finished_at = time.monotonic()
            self.cpu_at_end = time.process_time()
            self.done.set()

    def _violation(self, what: str) -> None:
        self.violations[what] += 1

    # --- the outcome ----------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return {
            "ready": self.ready_at is not None,
            "done": self.done.is_set(),
            "offered": self.offered,
            "completed": self.completed,
            "total": self.total,
        }

    def result(self) -> dict[str, Any]:
        """Return the run's figures and every departure from the expected calls."""
        wrong = Counter[str]()
        for update in self.updates:
            if sorted(update.calls) != sorted(self.expected[update.kind]):
                wrong[f"{update.kind}: {'+'.join(update.calls) or 'no call'}"] += 1
        latencies = sorted(
            update.done_at - update.queued_at
            for update in self.updates
            if update.done_at is not None
        )
        end = self.finished_at or time.monotonic()
        window = end - (self.started_at or end)
        first = min((update.queued_at for update in self.updates), default=end)
        return {
            **self.status(),
            "ready_at": self.ready_at,
            "window_s": window,
            "span_s": end - first,
            "kinds": Counter(update.kind for update in self.updates),
            "calls": dict(self.calls),
            "wrong_calls": dict(wrong),
            "violations": dict(self.violations),
            "late": self.late,
            "latency_ms": {
                "p50": _percentile(latencies, 0.50) * 1000,
                "p90": _percentile(latencies, 0.90) * 1000,
                "p99": _percentile(latencies, 0.99) * 1000,
                "max": (latencies[-1] if latencies else 0.0) * 1000,
            },
            "fake_cpu_s": (self.cpu_at_end or time.process_time()) - self.cpu_at_start,
        }


def _percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of sorted `values` (0 when empty)."""
    if not values:
        return 0.0
    return values[min(len(values) - 1, max(0, int(share * len(values) + 0.5) - 1))]


def _markup(value: object) -> dict[str, Any] | None:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else None


def _is_questionnaire(markup: dict[str, Any] | None) -> bool:
    """Tell whether `markup` holds questionnaire buttons (callback data `q:...`): a screen."""
    return any(data.startswith("q:") for data in _button_data(markup))


def _button_data(markup: dict[str, Any] | None) -> set[str]:
    rows = (markup or {}).get("inline_keyboard", [])
    return {str(button.get("callback_data")) for row in rows for button in row}


def _message(
    chat_id: int, message_id: int, text: str, markup: dict[str, Any] | None
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": BOT_USER,
        "chat": {"id": chat_id, "type": "private", "first_name": "Runner"},
        "date": int(time.time()),
        "text": text,
    }
    if markup is not None:
        message["reply_markup"] = markup
    return message


class FakeBotApi:
    """The server: Bot API methods for any token, and the orchestrator's controls."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.next_update_id = 1
        self.stopping = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/_bench/load", self.load)
        app.router.add_post("/_bench/start", self.start)
        app.router.add_get("/_bench/wait", self.wait)
        app.router.add_get("/_bench/result", self.result)
        app.router.add_post("/_bench/quit", self.quit)
        app.router.add_route("*", "/bot{token}/{method}", self.bot_api)
        return app

    async def load(self, request: web.Request) -> web.Response:
        config = await request.json()
        if self.run is not None:
            self.next_update_id = self.run.next_update_id
        self.run = Run(config, self.next_update_id)
        return web.json_response({"ok": True, "total": self.run.total})

    async def start(self, request: web.Request) -> web.Response:
        run = self._run()
        run.start()
        return web.json_response(run.status())

    async def wait(self, request: web.Request) -> web.Response:
        run = self._run()
        event = run.ready if request.query.get("what") == "ready" else run.done
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), float(request.query.get("timeout", "1")))
        return web.json_response(run.status())

    async def result(self, request: web.Request) -> web.Response:
        return web.json_response(self._run().result())

    async def quit(self, request: web.Request) -> web.Response:
        self.stopping.set()
        return web.json_response({"ok": True})

    def _run(self) -> Run:
        if self.run is None:
            raise web.HTTPConflict(text="no run loaded")
        return self.run

    async def bot_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await wire.params(request)
        result = await self.call(method, params)
        body = json.dumps({"ok": True, "result": result})
        return web.Response(body=body.encode(), content_type="application/json")

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        run = self.run
        if method == "getUpdates":
            return await self.get_updates(params)
        if method == "getMe":
            return BOT_USER
        if method in TRUE_METHODS or run is None:
            return True
        if method in SCREENS:
            return run.screen_call(method, params)
        if method == "answerCallbackQuery":
            run.answer_call(params)
            return True
        run.other_call(method, params)
        if method.startswith("edit"):
            chat_id = int(params.get("chat_id") or 0)
            return _message(chat_id, int(params.get("message_id") or 0), "", None)
        return True

    async def get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the unconfirmed updates from `offset` on, waiting for one if there is none."""
        run = self.run
        timeout = min(MAX_POLL, float(params.get("timeout") or 0))
        if run is None:
            await asyncio.sleep(timeout)
            return []
        run.note_poll()
        offset = int(params.get("offset") or 0)
        pending = run.pending
        while pending and pending[0]["update_id"] < offset:
            pending.popleft()
        if not pending and timeout > 0:
            run.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.arrived.wait(), timeout)
        return list(islice(run.pending, int(params.get("limit") or 100)))


async def serve(port: int) -> None:
    api = FakeBotApi()
    runner = web.AppRunner(api.app(), access_log=None, handle_signals=True)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    sys.stdout.write(f"listening {port}\n")
    sys.stdout.flush()
    try:
        await api.stopping.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    asyncio.run(serve(int(sys.argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
