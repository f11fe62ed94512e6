"""Impatient people on the fake Bot API, in virtual time: the model behind issue 12's tests.

A `World` runs the real bot (`build_bot`, `UpdateProcessor`, the real request chain with the real
pacing on the event loop's clock) over `FakeBotApi` and a memory store, and lets a test act as
Telegram and as the people in the chats:

* every update goes through `UpdateProcessor.process`, one chat's updates in order, different
  chats side by side (as the polling loop's per-chat queues do), and `deliver` returns at once:
  nothing waits for the bot's screens;
* `kill` stops the bot dead (from that instant none of its calls reaches the Bot API or the store;
  then every task it had is cancelled), builds a fresh application over the same store and
  redelivers the updates not confirmed yet (as the polling loop confirms them: once processed);
* `settle` advances virtual time until the bot is quiet.

A `Monitor` sees every Bot API call as the server gets it (`Wire`, under the pacing) and every
store write, and checks the invariants of issue 12 *as the events happen*: every press answered
exactly once, no screen sent twice, no old screen coming back, the urgent result first, per-chat
sends within a token bucket, no press on the newest screen of a quiet chat rejected as "moved
on" (unless the person sent /start or /restart since it was drawn: then it is rightly old, and
a kill may have kept the new questionnaire's first screen from them). End-of-run checks
(unanswered presses, stuck chats, record against screen, tasks left) are in `final_checks`.
Time is the event loop's (`loop.time`): run the whole test body with
`run_in_virtual_time`, on a looptime loop of its own that fast-forwards when it has nothing to do
(a second of pacing costs nothing) and is closed cleanly at the end (looptime's pytest plugin is
off: it leaves loops open).

The per-chat bucket is the bot's rule, checked with the bot's own `bucket_violations` over the
calls that put a new message in the chat (`is_chat_paced`: edits count in the overall rate only);
a fresh process after a kill starts with a full bucket, as the bot's in-process limiter does.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import random
import re
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import looptime
from pydantic import ValidationError
from telegram import Update
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import Level
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Result
from bot.engine.questionnaire.session import Session
from bot.store.base import Record, SessionKey
from bot.store.cached import CachingStore
from bot.store.locks import LocalLocks
from bot.store.memory import MemoryStore
from bot.telegram.api.pacing.limiter import (
    RateLimitedRequest,
    RateLimiter,
    bucket_violations,
    is_chat_paced,
    is_paced,
    over_limit,
)
from bot.telegram.api.retry import RetryingRequest
from bot.telegram.app import AnyApplication, build_bot
from bot.telegram.delivery.processing import Outcome, UpdateProcessor
from bot.telegram.delivery.serving import remember_own_writes
from bot.telegram.features.checkins import CheckinScheduler
from bot.telegram.state.conversation import Conversation
from bot.telegram.ui import callbacks
from bot.telegram.ui.callbacks import decode_callback
from bot.telegram.ui.keyboards import screen
from tests.fakes.botapi import FakeBotApi, SentMessage, utf16_len

FAULTY_METHODS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "answerCallbackQuery",
    }
)
"""Calls that get injected faults (start-up calls do not: a bot that cannot start is not news)."""
"""Seconds an update stays unconfirmed while what it owed its chat waits to go out (polling)."""
EPOCH = 1_800_000_000.0
"""The date (seconds since 1970) the loop's clock starts at, for schedules in the store."""
QUIET = 4.0
"""Seconds with nothing in flight, queued or sent for a chat before it counts as quiet."""
TELEGRAM_TOTAL = 30.0
"""Telegram's overall limit (messages a second, edits included); the bot paces itself at 28."""
TICKS: frozenset[str] = getattr(callbacks, "TICKS", frozenset())
"""Checklist presses that stay valid while the checklist is shown (the bot's rule, if it has
one: `bot.telegram.ui.callbacks.TICKS`)."""
SCREEN_DATA = re.compile(r"^q:(\d+):")
STEPPING = re.compile(r"^q:\d+:[atxdbruc]")
"""Presses that change the questionnaire's screen (not Why? or More)."""


# --- virtual time -------------------------------------------------------------------------------

T = TypeVar("T")


def run_in_virtual_time(main: Callable[[], Coroutine[Any, Any, T]], *, start: float = 0.0) -> T:
    """Run `main()` on a fresh looptime loop (virtual time from `start`) and close it cleanly.

    `asyncio.Runner` cancels what is left, shuts async generators and the default executor down
    and closes the loop, so no ResourceWarning (an error here) is left behind.
    """

    def virtual_loop() -> asyncio.AbstractEventLoop:
        loop = looptime.new_event_loop(start=start)
        assert loop.looptime_on, "looptime did not enable virtual time"
        return loop

    with asyncio.Runner(loop_factory=virtual_loop) as runner:
        return runner.run(main())


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile (`share` 0..1); inf counts as a value; nan if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# --- what the server saw ------------------------------------------------------------------------


@dataclass(frozen=True)
class WireCall:
    """One Bot API call as the server got it, with its answer."""

    seq: int
    at: float
    incarnation: int
    method: str
    chat: int | None
    params: dict[str, Any]
    status: int | str  # an HTTP status, or "timeout"
    result: Any = None
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


def _drew(call: WireCall, message_id: int) -> bool:
    """Tell whether `call` sent or edited message `message_id` (successfully)."""
    if not call.ok or call.method not in ("sendMessage", "editMessageText"):
        return False
    result = call.result if isinstance(call.result, dict) else {}
    return message_id in (call.params.get("message_id"), result.get("message_id"))


@dataclass
class Press:
    """One button press a person made, and what became of it."""

    query_id: str
    chat: int
    at: float
    message_id: int
    data: str
    label: str
    on_newest: bool
    """The pressed message was the chat's newest message with buttons."""
    quiet: bool
    """The chat was quiet (nothing queued, in flight or sent for `QUIET` s) when pressed."""
    current: bool = False
    """The pressed screen shows the stored state, and no earlier update of the chat is pending."""
    restarted: bool = False
    """The person sent /start or /restart after the pressed screen was last drawn: they asked
    for a new questionnaire, whose screen a kill may have kept from them, so the pressed one is
    rightly old ("moved on", then the new screen)."""
    answers: list[tuple[float, str]] = field(default_factory=list)
    faulted: bool = False
    """An answer to it failed at the server (an injected fault): its latency is the fault's."""


@dataclass(frozen=True)
class Violation:
    kind: str
    chat: int | None
    at: float
    detail: str

    def __str__(self) -> str:
        return f"[{self.kind}] chat {self.chat} at {self.at:.2f} s: {self.detail}"


@dataclass
class _Urgent:
    """A committed urgent or emergency result whose screen has not gone out yet."""

    seq: int
    committed_at: float
    pressed_at: float | None
    banner: str
    faulted: bool = False
    """A call to the chat failed at the server (an injected fault) before the result went out."""


def buttons(markup: object) -> list[dict[str, Any]]:
    """Return the inline buttons of a reply_markup (decoded or JSON text), row-major."""
    if isinstance(markup, str):
        try:
            markup = json.loads(markup)
        except ValueError:
            return []
    if not isinstance(markup, dict) or not isinstance(markup.get("inline_keyboard"), list):
        return []
    return [button for row in markup["inline_keyboard"] for button in row]


def screen_revision(markup: object) -> int | None:
    """Return the session revision a questionnaire screen's buttons carry (None: no screen)."""
    for button in buttons(markup):
        match = SCREEN_DATA.match(str(button.get("callback_data", "")))
        if match:
            return int(match.group(1))
    return None


def stored_session(data: str | None) -> Session | None:
    """The session in a stored conversation record, or None (no record, or not a conversation)."""
    if data is None:
        return None
    try:
        return Conversation.load(data).session
    except (ValidationError, ValueError):
        return None


class Monitor:
    """See every Bot API call and store write; check issue 12's invariants as they happen."""

    def __init__(
        self,
        kb: KnowledgeBase,
        clock: Callable[[], float],
        *,
        chat_rate: float = 1.0,
        chat_burst: int = 3,
    ) -> None:
        self.kb = kb
        self.clock = clock
        self.chat_rate, self.chat_burst = chat_rate, chat_burst
        """The per-chat token bucket (issue 12: a burst of a few messages, then about 1/s)."""
        self._seq = itertools.count(1)
        self.calls: list[WireCall] = []
        self.violations: list[Violation] = []
        self.presses: dict[str, Press] = {}
        self.moved_on = {kb.text("moved_on", language) for language in kb.languages}
        self.banners = {
            level: kb.levels[level.code].banner for level in (Level.EMERGENCY, Level.URGENT)
        }
        self.sessions: dict[int, Session | None] = {}
        self.screen_revs: dict[int, int | None] = {}
        """Chat -> the record's `screen_rev`: the revision at which the question shown now was
        first drawn (ticks, Done and Not sure drawn since then still count), if the record has
        one."""
        self.changes: Counter[int] = Counter()
        """Per chat: how many commits changed the session (a new screen is then expected)."""
        self._last_screen: dict[int, tuple[tuple[str, tuple[str, ...]], int, float, int]] = {}
        self._urgent: dict[int, _Urgent] = {}
        self._late: dict[int, _Urgent] = {}
        """Urgent results whose first message call was something else, until they go out."""
        self.urgent_latencies: list[float] = []
        self.urgent_samples: list[tuple[int, float, float]] = []
        self.urgent_clean: list[float] = []
        """Those of `urgent_latencies` with no injected fault on the chat's calls meanwhile."""
        """(chat, press time, seconds to the result going out), for reports."""
        """Seconds from the press to its urgent/emergency result going out."""
        self.paced_starts: defaultdict[tuple[int, int], list[float]] = defaultdict(list)
        """(incarnation, chat) -> start times of the calls that put a new message in the chat
        (`is_chat_paced`), as the server saw them."""
        self._refused: Counter[tuple[int, int]] = Counter()
        self.all_starts: defaultdict[int, list[float]] = defaultdict(list)
        """Incarnation -> start times of every message call (edits too: `is_paced`)."""
        self.processing: dict[int, tuple[int, float]] = {}
        """Chat -> (update id, delivery time) of the update being processed now."""
        self.activity: dict[int, float] = {}
        """Chat -> the last time anything happened for it (a call, a processed update)."""
        self.in_flight: Counter[int] = Counter()
        """Chat -> Bot API calls of the bot in flight (also waiting for pacing or a retry)."""
        self.waiting: Counter[int] = Counter()
        """Chat -> updates delivered and not processed yet."""
        self.step = 0
        self.kills: list[float] = []
        """When the bot was killed (shown in every transcript)."""
        self.texts: list[tuple[float, int, str]] = []
        """(time, chat, text) of every message a person sent."""
        self.asks: defaultdict[int, list[float]] = defaultdict(list)
        """Chat -> when its person sent something (a press, a text): a new screen may follow."""

    # --- bookkeeping ----------------------------------------------------------------------------

    def next_seq(self) -> int:
        return next(self._seq)

    def flag(self, kind: str, chat: int | None, detail: str) -> None:
        self.violations.append(Violation(kind, chat, self.clock(), f"{detail} (step {self.step})"))

    def touch(self, chat: int | None) -> None:
        if chat is not None:
            self.activity[chat] = self.clock()

    def restarted_since_drawn(self, chat: int, message_id: int) -> bool:
        """Tell whether the person sent /start or /restart after `message_id` was last drawn."""
        drawn = max(
            (call.at for call in self.calls if call.chat == chat and _drew(call, message_id)),
            default=-math.inf,
        )
        return any(
            at > drawn and who == chat and text.split()[:1] in (["/start"], ["/restart"])
            for at, who, text in self.texts
        )

    def is_quiet(self, chat: int) -> bool:
        if self.waiting[chat] or self.in_flight[chat]:
            return False
        return self.clock() - self.activity.get(chat, -math.inf) >= QUIET

    # --- events ---------------------------------------------------------------------------------

    def on_press(self, press: Press) -> None:
        self.presses[press.query_id] = press
        self.asks[press.chat].append(press.at)

    def on_text(self, chat: int, text: str) -> None:
        self.texts.append((self.clock(), chat, text))
        self.asks[chat].append(self.clock())

    def on_commit(self, chat: int, before: str | None, after: str, seq: int) -> None:
        """A store write to a conversation record of `chat` succeeded."""
        old, new = stored_session(before), stored_session(after)
        if new is not None:
            self.screen_revs[chat] = getattr(Conversation.load(after), "screen_rev", None)
        if new is None or (old is not None and old == new):
            return  # not a conversation, or no change of state (a message tracked)
        self.sessions[chat] = new
        self.changes[chat] += 1
        if not new.done or (
            old is not None and old.done and old.kb == new.kb and old.rev == new.rev
        ):
            return
        try:
            step = machine.current_step(self.kb, new)
        except Exception:  # an outdated session: not this model's business
            return
        if isinstance(step, Result) and step.level in self.banners:
            pressed = self.processing.get(chat)
            self._urgent[chat] = _Urgent(
                seq,
                self.clock(),
                None if pressed is None else pressed[1],
                self.banners[step.level],
            )

    def is_live(self, chat: int, revision: int, action: str | None = None) -> bool:
        """Tell whether the bot applies a press drawn at `revision` (of `action`, if given;
        None: a screen, some of whose buttons are ticks) to the chat's stored session.

        Drawn at the session's revision; or a tick, Done or Not sure drawn on a rendering of the
        checklist shown now since it was first drawn (`screen_rev`, `callbacks.TICKS`).
        """
        session = self.sessions.get(chat)
        if session is None:
            return False
        if revision == session.rev:
            return True
        first = self.screen_revs.get(chat)
        is_tick = action is None or action in TICKS
        return is_tick and first is not None and first <= revision < session.rev

    def on_delete(self, chat: int) -> None:
        self.sessions[chat] = None
        self.screen_revs[chat] = None
        self.changes[chat] += 1

    def on_call(self, call: WireCall) -> None:
        self.calls.append(call)
        chat, method = call.chat, call.method
        if not call.ok and chat is not None:
            for pending in (self._urgent.get(chat), self._late.get(chat)):
                if pending is not None:
                    pending.faulted = True
        if is_paced(method) and chat is not None:
            self.all_starts[call.incarnation].append(call.at)
            if is_chat_paced(method):
                self._paced(call)
            if call.ok:
                self._urgent_first(call, chat)
        if method == "answerCallbackQuery":
            self._answer(call)
        elif method == "sendMessage" and call.ok and chat is not None:
            self._sent(call, chat)
        elif method == "editMessageText" and call.ok and chat is not None:
            self._old_screen(call, chat)

    def _paced(self, call: WireCall) -> None:
        assert call.chat is not None
        key = (call.incarnation, call.chat)
        starts = self.paced_starts[key]
        starts.append(call.at)
        refused = bucket_violations(starts, rate=self.chat_rate, burst=self.chat_burst)
        if refused > self._refused[key]:
            self._refused[key] = refused
            self.flag(
                "over the bucket",
                call.chat,
                f"{call.method} starts beyond a burst of {self.chat_burst} then "
                f"{self.chat_rate:g}/s",
            )

    def overall_violations(self) -> int:
        """Message calls (edits too) beyond Telegram's 30 in any second, for all processes."""
        return sum(over_limit(starts, limit=TELEGRAM_TOTAL) for starts in self.all_starts.values())

    def _answer(self, call: WireCall) -> None:
        query_id = str(call.params.get("callback_query_id"))
        press = self.presses.get(query_id)
        if press is None:
            return
        if call.ok:
            press.answers.append((call.at, str(call.params.get("text") or "")))
        elif "query is too old" in call.description:
            press.answers.append((call.at, "(refused: answered already)"))
        else:
            press.faulted = press.faulted or not press.answers
            return
        if len(press.answers) == 2:
            self.flag("answered twice", press.chat, f"press {press.label!r} ({query_id})")
        text = press.answers[-1][1]
        if len(press.answers) != 1 or text not in self.moved_on:
            return
        if press.on_newest and not press.restarted and (press.quiet or press.current):
            why = "a quiet chat" if press.quiet else "the stored state"
            self.flag(
                "newest screen rejected",
                press.chat,
                f"press {press.label!r} on the newest screen, showing {why}: {text!r}",
            )
        elif press.current:  # the bot applies a press drawn at the stored revision, wherever
            self.flag(
                "current press rejected",
                press.chat,
                f"press {press.label!r} drawn at the stored revision, nothing pending: {text!r}",
            )

    def _urgent_out(self, chat: int, at: float, urgent: _Urgent) -> None:
        """An urgent result went out at `at`: count its latency from the press."""
        if urgent.pressed_at is None:
            return
        self.urgent_latencies.append(at - urgent.pressed_at)
        self.urgent_samples.append((chat, urgent.pressed_at, at - urgent.pressed_at))
        if not urgent.faulted:
            self.urgent_clean.append(at - urgent.pressed_at)

    def _urgent_first(self, call: WireCall, chat: int) -> None:
        """The first message call after an urgent result's commit must show that result."""
        text = str(call.params.get("text", ""))
        shows = call.method in ("sendMessage", "editMessageText")
        late = self._late.get(chat)
        if late is not None and shows and text.startswith(late.banner):
            del self._late[chat]  # it came, late: its latency still counts
            self._urgent_out(chat, call.at, late)
        if call.method == "editMessageReplyMarkup" and "text" not in call.params:
            return  # buttons taken off an older message: nothing new for the person to read
        urgent = self._urgent.pop(chat, None)
        if urgent is None:
            return
        if shows and text.startswith(urgent.banner):
            self._urgent_out(chat, call.at, urgent)
            return
        self._late[chat] = urgent
        self.flag(
            "urgent result not first",
            chat,
            f"after an {urgent.banner} result was committed, the first message call was "
            f"{call.method} {text[:50]!r}",
        )

    def _sent(self, call: WireCall, chat: int) -> None:
        text = str(call.params.get("text", ""))
        markup = call.params.get("reply_markup")
        if screen_revision(markup) is None:
            return
        self._old_screen(call, chat)
        key = (text, tuple(str(button.get("text")) for button in buttons(markup)))
        last = self._last_screen.get(chat)
        if last is not None and last[:2] == (key, self.changes[chat]):
            _, _, sent_at, incarnation = last
            asked = any(sent_at <= at <= call.at for at in self.asks[chat])
            if not asked:  # a person's message or press after the first copy may ask again
                kind = "screen sent twice" + (
                    " across a kill" if incarnation != call.incarnation else ""
                )
                self.flag(
                    kind, chat, f"{text[:50]!r} again, with nothing asked or changed between"
                )
        self._last_screen[chat] = (key, self.changes[chat], call.at, call.incarnation)

    def _old_screen(self, call: WireCall, chat: int) -> None:
        revision = screen_revision(call.params.get("reply_markup"))
        session = self.sessions.get(chat)
        if revision is None or session is None:
            return
        if not self.is_live(chat, revision):
            text = str(call.params.get("text", ""))[:50]
            self.flag(
                "old screen back",
                chat,
                f"{call.method} of a screen at revision {revision}, session at {session.rev} "
                f"(question first drawn at {self.screen_revs.get(chat)}): {text!r}",
            )

    def transcript(self, chat: int, *, last: int = 40, until: float = math.inf) -> str:
        """The chat's presses and Bot API calls in time order, for assertion messages."""
        lines: list[tuple[float, int, str]] = []
        for press in self.presses.values():
            if press.chat == chat:
                lines.append((press.at, 0, f"user presses {press.label!r} on {press.message_id}"))
        for at, in_chat, text in self.texts:
            if in_chat == chat:
                lines.append((at, 0, f"user types {text!r}"))
        lines += [
            (at, 0, "--- the bot is killed, a fresh one redelivers ---") for at in self.kills
        ]
        for call in self.calls:
            if call.chat != chat and call.method != "answerCallbackQuery":
                continue
            if call.method == "answerCallbackQuery":
                answered = self.presses.get(str(call.params.get("callback_query_id")))
                if answered is None or answered.chat != chat:
                    continue
                what = f"answer {answered.label!r}: {call.params.get('text', '')!r}"
            else:
                labels = [b.get("text") for b in buttons(call.params.get("reply_markup"))]
                target = call.params.get("message_id") or (call.result or {}).get("message_id")
                text = str(call.params.get("text", ""))[:45]
                what = f"{call.method} {target}: {text!r} {labels[:3]}"
            lines.append((call.at, call.seq, f"{what} -> {call.status}"))
        lines.sort(key=lambda line: (line[0], line[1]))
        lines = [line for line in lines if line[0] <= until]
        return "\n".join(f"  {at:8.3f} {what}" for at, _, what in lines[-last:])

    # --- figures --------------------------------------------------------------------------------

    def answer_latencies(self, *, faulted: bool = True) -> list[float]:
        """Seconds from each press to its first answer; inf for a press never answered.

        `faulted=False` leaves out the presses whose answer call the fake failed (a timeout, a
        5xx, a 429 with retry_after 1-3 s): their delay is the injected fault's, not the bot's.
        """
        return [
            press.answers[0][0] - press.at if press.answers else math.inf
            for press in self.presses.values()
            if faulted or not press.faulted
        ]

    def screen_latencies(self) -> list[float]:
        """Seconds from each applied press to the chat's next screen going out (sent or edited).

        Only presses that step the questionnaire (answer, tick, done, back, restart, not sure,
        tailor), drawn at the stored revision with nothing else pending, answered without text.
        """
        screens: defaultdict[int, list[float]] = defaultdict(list)
        for call in self.calls:
            shows = call.method in ("sendMessage", "editMessageText") and call.ok
            drawn = screen_revision(call.params.get("reply_markup"))
            if shows and call.chat is not None and drawn is not None:
                screens[call.chat].append(call.at)
        latencies = []
        for press in self.presses.values():
            if not press.current or not press.answers or press.answers[0][1]:
                continue
            if not STEPPING.match(press.data):
                continue  # Why?, More, Summary: no new screen
            after = [at for at in screens[press.chat] if at >= press.at]
            if after:
                latencies.append(after[0] - press.at)
        return latencies

    def summary(self) -> str:
        clean = self.answer_latencies(faulted=False)
        latencies = self.answer_latencies()
        answered = [value for value in latencies if math.isfinite(value)]
        kinds = Counter(violation.kind for violation in self.violations)
        lines = [
            f"presses {len(latencies)}, answered {len(answered)}; answer latency "
            f"p50 {percentile(latencies, 0.5):.3f} s, p95 {percentile(latencies, 0.95):.3f} s, "
            f"p99 {percentile(latencies, 0.99):.3f} s, "
            f"max {max(answered, default=math.nan):.3f} s; without the "
            f"{len(latencies) - len(clean)} whose answer call was faulted: "
            f"p95 {percentile(clean, 0.95):.3f} s, "
            f"p99 {percentile(clean, 0.99):.3f} s",
            f"urgent results: {len(self.urgent_latencies)}, press -> result p95 "
            f"{percentile(self.urgent_latencies, 0.95):.3f} s; without the "
            f"{len(self.urgent_latencies) - len(self.urgent_clean)} that met an injected fault: "
            f"p95 {percentile(self.urgent_clean, 0.95):.3f} s",
            f"applied presses on the current screen -> next screen: p50 "
            f"{percentile(self.screen_latencies(), 0.5):.3f} s, "
            f"p95 {percentile(self.screen_latencies(), 0.95):.3f} s",
            "violations: "
            + (", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items())) or "none"),
        ]
        return "\n".join(lines)


# --- the transport, the outer probe and the store view --------------------------------------


def _chat(request_data: RequestData | None) -> int | None:
    chat = None if request_data is None else request_data.parameters.get("chat_id")
    try:
        return int(chat) if isinstance(chat, int | str) else None
    except (TypeError, ValueError):
        return None


def _method(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


class Killed(asyncio.CancelledError):
    """Raised by anything a killed bot still tries: from the kill on, it has no effect."""


@dataclass
class FaultPlan:
    """Random Bot API faults: each call to a `FAULTY_METHODS` method fails with `rate`."""

    rng: random.Random
    rate: float = 0.0
    kinds: Counter[str] = field(default_factory=Counter)

    def arm(self, api: FakeBotApi, method: str) -> None:
        if method not in FAULTY_METHODS or self.rng.random() >= self.rate:
            return
        roll = self.rng.random()
        if roll < 0.3:
            self.kinds["timeout"] += 1
            api.fail_next(method, status="timeout")
        elif roll < 0.6:
            self.kinds["5xx"] += 1
            api.fail_next(method, status=self.rng.choice((500, 502)))
        else:
            self.kinds["429"] += 1
            api.fail_next(method, status=429, retry_after=self.rng.choice((1, 2, 3)))


class Wire(BaseRequest):
    """The server side of one bot process: the fake, its faults, and the monitor's view."""

    def __init__(
        self, api: FakeBotApi, monitor: Monitor, faults: FaultPlan, incarnation: int
    ) -> None:
        self.api, self.monitor, self.faults = api, monitor, faults
        self.incarnation = incarnation
        self.dead = False

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self.dead:
            raise Killed
        api_method, chat = _method(url), _chat(request_data)
        self.faults.arm(self.api, api_method)
        seq, at = self.monitor.next_seq(), self.monitor.clock()
        recorded = len(self.api.calls)
        try:
            status, payload = await self.api.do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout,
                pool_timeout,
            )  # fmt: skip
        except TimedOut:
            params = self.api.calls[recorded].params
            self.monitor.on_call(
                WireCall(seq, at, self.incarnation, api_method, chat, params, "timeout")
            )
            raise
        params = self.api.calls[recorded].params
        body = json.loads(payload)
        self.monitor.on_call(
            WireCall(
                seq, at, self.incarnation, api_method, chat, params, status,
                body.get("result"), str(body.get("description", "")).lower(),
            )
        )  # fmt: skip
        self.monitor.touch(chat)
        return status, payload


class Outer(BaseRequest):
    """Wraps the whole chain: counts a chat's calls in flight, pacing and retries included."""

    def __init__(self, inner: BaseRequest, monitor: Monitor, wire: Wire) -> None:
        self.inner, self.monitor, self.wire = inner, monitor, wire

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self.wire.dead:
            raise Killed
        chat = _chat(request_data)
        if chat is not None:
            self.monitor.in_flight[chat] += 1
        try:
            return await self.inner.do_request(
                url, method, request_data, read_timeout, write_timeout, connect_timeout,  # type: ignore[arg-type]
                pool_timeout,  # type: ignore[arg-type]
            )  # fmt: skip
        finally:
            if chat is not None:
                self.monitor.in_flight[chat] -= 1
                self.monitor.touch(chat)


class StoreView:
    """One bot process's view of the shared store: writes are reported; dead after a kill."""

    def __init__(self, inner: MemoryStore, monitor: Monitor, wire: Wire) -> None:
        self.inner, self.monitor, self.wire = inner, monitor, wire

    def _alive(self) -> None:
        if self.wire.dead:
            raise Killed

    async def get(self, key: SessionKey) -> Record | None:
        self._alive()
        return await self.inner.get(key)

    async def get_many(self, keys: Sequence[SessionKey]) -> list[Record | None]:
        self._alive()
        return await self.inner.get_many(keys)

    async def put(self, key: SessionKey, data: str, *, expected_revision: int) -> int:
        self._alive()
        before = await self.inner.get(key)
        revision = await self.inner.put(key, data, expected_revision=expected_revision)
        if key.scope == SessionKey(key.chat_id, key.user_id).scope:
            self.monitor.on_commit(
                key.chat_id, None if before is None else before.data, data, self.monitor.next_seq()
            )
        return revision

    async def delete(self, key: SessionKey) -> bool:
        self._alive()
        deleted = await self.inner.delete(key)
        if deleted and key.scope == SessionKey(key.chat_id, key.user_id).scope:
            self.monitor.on_delete(key.chat_id)
        return deleted

    async def delete_user(self, user_id: int) -> int:
        self._alive()
        return await self.inner.delete_user(user_id)

    async def schedule(self, key: SessionKey, due_at: float) -> None:
        self._alive()
        await self.inner.schedule(key, due_at)

    async def unschedule(self, key: SessionKey) -> bool:
        self._alive()
        return await self.inner.unschedule(key)

    async def due(self, now: float, limit: int = 100) -> list[tuple[SessionKey, float]]:
        self._alive()
        return await self.inner.due(now, limit)

    async def count(self) -> int:
        return await self.inner.count()

    async def scan(self, scope: str) -> AsyncIterator[tuple[SessionKey, Record]]:
        async for keyed in self.inner.scan(scope):
            yield keyed

    async def close(self) -> None:
        """The shared store outlives every process: closing one process's view keeps it."""


# --- the bot process and Telegram's delivery ----------------------------------------------------


def pacer(settings: Settings, clock: Callable[[], float]) -> RateLimiter:
    """The bot's in-process limiter with the settings' limits, on `clock` (virtual time)."""
    return RateLimiter(
        per_second=settings.rate_limit_total,
        per_chat=settings.rate_limit_chat,
        burst=settings.rate_limit_chat_burst,
        clock=clock,
        sleep=asyncio.sleep,
    )


class Process:
    """One bot process: the application, its processor and per-chat queues."""

    def __init__(self, world: World, incarnation: int) -> None:
        self.world = world
        monitor = world.monitor
        self.wire = Wire(world.api, monitor, world.faults, incarnation)
        limiter = pacer(world.settings, monitor.clock)
        chain = RetryingRequest(
            RateLimitedRequest(self.wire, limiter), random=world.rng_retry.random
        )
        self.view = StoreView(world.store, monitor, self.wire)
        loop = asyncio.get_running_loop()
        # As `crampcheck run` has it (serving.py): one process handles every chat, so its
        # handlers, processor and check-ins share one store that reads its own writes from
        # memory, on the loop's (virtual) clock; a kill takes that memory with the process.
        self.store = CachingStore(self.view, clock=loop.time)
        remember_own_writes(self.store, LocalLocks(), world.settings)
        # Wake-ups and check-ins fall due on the loop's (virtual) clock, as a date.
        scheduler = CheckinScheduler(world.kb, self.store, clock=lambda: EPOCH + loop.time())
        parts = build_bot(
            world.settings, world.kb, self.store,
            request=Outer(chain, monitor, self.wire), checkins=scheduler,
        )  # fmt: skip
        assert parts.store is self.store  # the one memory, as in `crampcheck run`
        self.app: AnyApplication = parts.application
        self.processor = UpdateProcessor(
            self.app, parts.store,
            on_redelivered=parts.handlers.on_redelivered,
            outbox=parts.handlers.outbox,
        )  # fmt: skip
        self.queues: dict[int, deque[dict[str, Any]]] = {}
        self.workers: dict[int, asyncio.Task[None]] = {}
        self.waiters: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.app.initialize()
        assert self.app.post_init is not None
        await self.app.post_init(self.app)

    async def stop(self) -> None:
        """A clean stop (end of the test): shut the application down."""
        assert self.app.post_shutdown is not None
        await self.app.post_shutdown(self.app)
        await self.app.shutdown()

    def deliver(self, raw: dict[str, Any]) -> None:
        chat = _update_chat(raw)
        queue = self.queues.setdefault(chat, deque())
        queue.append(raw)
        if chat not in self.workers:
            self.workers[chat] = asyncio.create_task(self._work(chat, queue), name=f"chat-{chat}")

    async def _work(self, chat: int, queue: deque[dict[str, Any]]) -> None:
        monitor = self.world.monitor
        try:
            while queue:
                raw = queue[0]
                update = Update.de_json(raw, self.app.bot)
                monitor.processing[chat] = (
                    raw["update_id"],
                    self.world.delivered[raw["update_id"]],
                )
                outcome = await self.processor.process(update)
                queue.popleft()
                monitor.waiting[chat] -= 1
                monitor.processing.pop(chat, None)
                monitor.touch(chat)
                self.world.outcomes[outcome] += 1
                # As the polling loop (polling.py `_work`): confirmed once processed, whatever
                # the outcome; a kill before then brings it back.
                self.world.unsettled.pop(raw["update_id"], None)
        finally:
            if self.workers.get(chat) is asyncio.current_task():
                del self.workers[chat]
                self.queues.pop(chat, None)


def _update_chat(raw: dict[str, Any]) -> int:
    if "callback_query" in raw:
        return int(raw["callback_query"]["from"]["id"])
    return int(raw["message"]["chat"]["id"])


class World:
    """Telegram, a shared store and the bot process of the moment, on the loop's clock."""

    def __init__(
        self,
        kb: KnowledgeBase,
        settings: Settings,
        *,
        seed: int,
        fault_rate: float = 0.0,
    ) -> None:
        loop = asyncio.get_running_loop()
        self.kb, self.settings = kb, settings
        self.api = FakeBotApi()
        self.monitor = Monitor(
            kb,
            loop.time,
            chat_rate=settings.rate_limit_chat,
            chat_burst=settings.rate_limit_chat_burst,
        )
        self.store = MemoryStore()
        self.faults = FaultPlan(random.Random(f"{seed}-faults"), fault_rate)  # noqa: S311
        self.rng_retry = random.Random(f"{seed}-retry")  # noqa: S311
        self.delivered: dict[int, float] = {}
        """Update id -> when Telegram first delivered it."""
        self.unsettled: dict[int, dict[str, Any]] = {}
        """Delivered, and not confirmed yet (polling.py's rule): redelivered after a kill."""
        self.outcomes: Counter[Outcome] = Counter()
        self.kills = 0
        self.left_running: list[str] = []
        self._outside = set(asyncio.all_tasks())
        self._startup: set[asyncio.Task[Any]] = set()
        self.process = Process(self, 0)

    async def start(self) -> None:
        await self.process.start()
        self._startup = self.bot_tasks()

    def bot_tasks(self) -> set[asyncio.Task[Any]]:
        """The bot's tasks: every task not done but those that were there before it and ours."""
        outside = self._outside | {asyncio.current_task()}
        return {task for task in asyncio.all_tasks() if task not in outside and not task.done()}

    # --- Telegram's side ------------------------------------------------------------------------

    def deliver(self, raw: dict[str, Any]) -> None:
        """Hand a new update to the bot, as Telegram would; return at once."""
        update_id = raw["update_id"]
        self.delivered.setdefault(update_id, self.monitor.clock())
        self.unsettled[update_id] = raw
        chat = _update_chat(raw)
        self.monitor.waiting[chat] += 1
        self.monitor.touch(chat)
        self.process.deliver(raw)

    async def kill(self) -> None:
        """Stop the bot dead, start a fresh one on the same store, redeliver what was unsettled."""
        self.kills += 1
        self.monitor.kills.append(self.monitor.clock())
        self.process.wire.dead = True  # from now on nothing it does reaches the API or the store
        doomed = self.bot_tasks()
        for task in doomed:
            task.cancel()
        await asyncio.gather(*doomed, return_exceptions=True)
        self.monitor.waiting.clear()
        self.monitor.in_flight.clear()
        self.monitor.processing.clear()
        self.process = Process(self, self.kills)
        await self.start()
        for update_id in sorted(self.unsettled):
            raw = self.unsettled[update_id]
            chat = _update_chat(raw)
            self.monitor.waiting[chat] += 1
            self.process.deliver(raw)

    async def settle(self, *, quiet: float = 30.0, limit: float = 600.0) -> None:
        """Advance virtual time until no update is waiting and `quiet` s passed without a call."""
        deadline = self.monitor.clock() + limit
        while self.monitor.clock() < deadline:
            busy = any(self.monitor.waiting.values()) or any(self.monitor.in_flight.values())
            last = max(self.monitor.activity.values(), default=-math.inf)
            if not busy and self.monitor.clock() - last >= quiet:
                return
            await asyncio.sleep(1.0)
        raise AssertionError(f"the bot did not settle within {limit} virtual seconds")

    def tasks_left(self) -> list[str]:
        """Bot tasks running now that were not there right after start-up (call when quiet)."""
        return sorted(
            f"{task.get_name()}: {task.get_coro()!r:.80}"
            for task in self.bot_tasks() - self._startup
        )

    async def stop(self) -> None:
        await self.process.stop()

    # --- what a person sees ---------------------------------------------------------------------

    def keyboards(self, chat: int) -> list[SentMessage]:
        """The chat's bot messages that show inline buttons now, oldest first."""
        shown = [
            sent
            for sent in self.api.messages.values()
            if sent.chat_id == chat and buttons(sent.reply_markup)
        ]
        return sorted(shown, key=lambda sent: sent.message_id)

    def newest_keyboard(self, chat: int) -> SentMessage | None:
        shown = self.keyboards(chat)
        return shown[-1] if shown else None

    def screens(self, chat: int, text: str) -> list[SentMessage]:
        """The chat's messages that start with `text`, oldest first."""
        return sorted(
            (
                sent
                for sent in self.api.messages.values()
                if sent.chat_id == chat and sent.text.startswith(text)
            ),
            key=lambda sent: sent.message_id,
        )


class Person:
    """One person in a private chat: sends text and commands, presses buttons."""

    def __init__(self, world: World, chat: int, *, language: str = "en") -> None:
        self.world, self.chat = world, chat
        self.user = {"id": chat, "is_bot": False, "first_name": "Alex", "language_code": language}
        world.api.register_chat(chat, first_name="Alex")

    def send(self, text: str) -> dict[str, Any]:
        api = self.world.api
        message: dict[str, Any] = {
            "message_id": api.next_message_id(self.chat),
            "from": self.user,
            "chat": api.chat(self.chat),
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            command = text.split()[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        raw = {"update_id": api.next_update_id(), "message": message}
        self.world.monitor.on_text(self.chat, text)
        self.world.deliver(raw)
        return raw

    def press(self, sent: SentMessage, data: str, label: str = "") -> Press:
        """Press a button with `data` on `sent` (as the person's phone shows it now)."""
        world = self.world
        api = world.api
        shown = api.messages.get((self.chat, sent.message_id), sent)
        newest = world.newest_keyboard(self.chat)
        press = Press(
            query_id=api.new_callback_query_id(),
            chat=self.chat,
            at=world.monitor.clock(),
            message_id=sent.message_id,
            data=data,
            label=label or data,
            on_newest=newest is not None and newest.message_id == sent.message_id,
            quiet=world.monitor.is_quiet(self.chat),
            current=self._shows_stored_state(shown, data),
            restarted=world.monitor.restarted_since_drawn(self.chat, sent.message_id),
        )
        world.monitor.on_press(press)
        query = {
            "id": press.query_id,
            "from": self.user,
            "chat_instance": f"-{8_000_000_000 + self.chat}",
            "message": api.message_json(shown),
            "data": data,
        }
        world.deliver({"update_id": api.next_update_id(), "callback_query": query})
        return press

    def _shows_stored_state(self, shown: SentMessage, data: str) -> bool:
        """The button pressed is on the message now, drawn so that the bot applies it to the
        stored session (`Monitor.is_live`), and no earlier update of the chat is pending: the
        press must be applied."""
        monitor = self.world.monitor
        on_it = data in [button.get("callback_data") for button in buttons(shown.reply_markup)]
        idle = not monitor.waiting[self.chat] and self.chat not in monitor.processing
        try:
            callback = decode_callback(data)
        except ValueError:
            return False
        if not SCREEN_DATA.match(data):
            return False
        return idle and on_it and monitor.is_live(self.chat, callback.revision, callback.action)

    def press_label(self, sent: SentMessage, label: str) -> Press:
        """Press the one button of `sent` whose label is `label` or contains it."""
        found = [b for b in buttons(sent.reply_markup) if b["text"] == label]
        found = found or [b for b in buttons(sent.reply_markup) if label in b["text"]]
        if len(found) != 1:
            labels = [b["text"] for b in buttons(sent.reply_markup)]
            raise LookupError(f"no single button {label!r} on {sent.text[:40]!r}: {labels}")
        return self.press(sent, str(found[0]["callback_data"]), str(found[0]["text"]))


# --- end-of-run checks --------------------------------------------------------------------------


async def final_checks(world: World, chats: Iterable[int], rng: random.Random) -> None:
    """With the bot quiet: unanswered presses, stuck chats, record against screen, tasks left.

    Each chat's newest questionnaire screen is pressed (three rounds, the chats' presses spread
    over about 3 s, settling in between): every such press must be applied, not answered "moved
    on".
    """
    monitor = world.monitor
    every = list(chats)
    await world.settle()
    for press in monitor.presses.values():
        if not press.answers:
            monitor.flag("never answered", press.chat, f"press {press.label!r} ({press.query_id})")
    for task in world.tasks_left():
        monitor.flag("task left running", None, task)
    for chat in every:
        await _agree(world, chat)
        _replies_delivered(world, chat)
    for round_ in range(3):
        pressed: list[Press] = []
        for chat in every:
            # Spread over about 3 s, as people are: not every chat in the same instant (thirty
            # results at once wait for Telegram's 30/s, which says nothing about the bot).
            await asyncio.sleep(rng.uniform(0, 6 / len(every)))
            newest = world.newest_keyboard(chat)
            if newest is None or screen_revision(newest.reply_markup) is None:
                continue
            choices = [
                b for b in buttons(newest.reply_markup) if SCREEN_DATA.match(b["callback_data"])
            ]
            choice = rng.choice(choices)
            pressed.append(
                Person(world, chat).press(
                    newest, choice["callback_data"], f"probe {choice['text']}"
                )
            )
        await world.settle()
        for press in pressed:
            texts = [text for _, text in press.answers]
            if not texts or texts[0] in monitor.moved_on:
                monitor.flag(
                    "stuck",
                    press.chat,
                    f"probe {round_ + 1}: {press.label!r} on the newest screen of a quiet chat "
                    f"answered {texts}",
                )
        for chat in {press.chat for press in pressed}:
            await _agree(world, chat)


REPLIES = {
    "Why?": (re.compile(r"^q:\d+:w$"), "why_level"),
    "Summary": (re.compile(r"^s:"), "summary_title"),
}
"""Presses that ask for a message of their own: data, and the text key the message shows."""


def _replies_delivered(world: World, chat: int) -> None:
    """Each applied Why? or Summary press (answered without a text) is followed by its message
    (bot quiet): a press answered at once whose reply a kill or a failure then lost is a lost
    answer. Several presses may share one message sent after the last of them (coalescing)."""
    monitor = world.monitor
    sent = [
        (call.at, str(call.params.get("text", ""))[:200])
        for call in monitor.calls
        if call.chat == chat and call.method == "sendMessage" and call.ok
    ]
    for name, (data, key) in REPLIES.items():
        marks = {world.kb.text(key, language) for language in world.kb.languages}
        last = max((at for at, text in sent if any(mark in text for mark in marks)), default=None)
        lost = [
            press
            for press in monitor.presses.values()
            if press.chat == chat and data.match(press.data) and press.answers
            if not press.answers[0][1]  # applied: answered without "moved on"
            if last is None or last < press.at
        ]
        if lost:
            monitor.flag(
                "reply lost",
                chat,
                f"{len(lost)} {name} press(es) applied from {lost[0].at:.2f} s on, no such "
                f"message sent after them",
            )


async def _agree(world: World, chat: int) -> None:
    """The stored record and the chat's newest questionnaire screen agree (bot quiet)."""
    record = await world.store.get(SessionKey(chat, chat))
    session = stored_session(None if record is None else record.data)
    screens = [
        sent for sent in world.keyboards(chat) if screen_revision(sent.reply_markup) is not None
    ]
    if session is None:
        return
    if not screens:
        world.monitor.flag(
            "record and screen differ", chat, "a session is stored, no screen shows it"
        )
        return
    newest = screens[-1]
    revision = screen_revision(newest.reply_markup)
    try:
        step = machine.current_step(world.kb, session)
    except Exception:  # an outdated session
        return
    conversation = Conversation.load(record.data) if record is not None else None
    language = conversation.language if conversation is not None else "en"
    _, markup = screen(world.kb, step, language)
    expected = [b["text"] for b in buttons(markup)]
    shown = [b["text"] for b in buttons(newest.reply_markup)]
    if revision != session.rev or shown != expected:
        world.monitor.flag(
            "record and screen differ",
            chat,
            f"stored session rev {session.rev} ({'done' if session.done else 'asking'}) but the "
            f"newest screen is rev {revision}: {newest.text[:50]!r}",
        )
    elif conversation is not None and conversation.is_screen_pending:
        world.monitor.flag(
            "record and screen differ",
            chat,
            f"quiet, and the record still owes view {conversation.view} (shown "
            f"{conversation.shown}): nothing will send it until the person acts",
        )


# --- the impatient crowd ------------------------------------------------------------------------

JUNK = ("ok", "hello?", "??", "asdf", "\N{THUMBS UP SIGN}", "wait", "what", "hmm", "1", "...")
"""Text people type at a bot that asks with buttons (none of it names an emergency)."""
KILL = -1


@dataclass(frozen=True)
class CrowdOptions:
    """The size and hostility of one run of the model."""

    users: int = 20
    actions: int = 30
    """Actions per person (presses, text, commands), each after a wait."""
    fault_rate: float = 0.0
    """Share of the bot's message and answer calls that fail (timeout, 5xx, 429)."""
    kills: int = 0
    junk: float = 0.10
    restarts: float = 0.04
    double_taps: float = 0.3
    """Share of presses made twice in a row."""
    old_messages: float = 0.35
    """Share of presses on any message with buttons rather than the newest."""


class Impatient:
    """One impatient person: presses any button of any message, often twice, types, restarts."""

    def __init__(self, world: World, chat: int, rng: random.Random, options: CrowdOptions) -> None:
        self.person = Person(world, chat)
        self.world, self.chat, self.rng, self.options = world, chat, rng, options
        self.left = options.actions
        self._again: tuple[SentMessage, dict[str, Any]] | None = None

    def act(self) -> float | None:
        """Do one thing now; return the wait before the next, or None when done."""
        rng, options = self.rng, self.options
        if self.left == options.actions:
            self.person.send("/start")
        elif self._again is not None:  # the second tap of a double tap
            sent, button = self._again
            self._again = None
            self.person.press(sent, button["callback_data"], f"{button['text']} (again)")
            return self._wait()
        else:
            roll = rng.random()
            if roll < options.junk:
                self.person.send(rng.choice(JUNK))
            elif roll < options.junk + options.restarts:
                self.person.send(rng.choice(("/start", "/restart")))
            elif not self._press():
                self.person.send(rng.choice(JUNK))
            elif self._again is not None:
                self.left -= 1
                return rng.uniform(0.05, 0.4)
        self.left -= 1
        return self._wait() if self.left > 0 else None

    def _press(self) -> bool:
        rng = self.rng
        shown = self.world.keyboards(self.chat)
        if not shown:
            return False
        sent = rng.choice(shown) if rng.random() < self.options.old_messages else shown[-1]
        choices = [b for b in buttons(sent.reply_markup) if "callback_data" in b]
        if not choices:
            return False
        restart = {self.world.kb.text("restart", language) for language in self.world.kb.languages}
        weights = [0.15 if b["text"] in restart else 1.0 for b in choices]
        button = rng.choices(choices, weights)[0]
        self.person.press(sent, button["callback_data"], button["text"])
        if rng.random() < self.options.double_taps:
            self._again = (sent, button)
        return True

    def _wait(self) -> float:
        roll = self.rng.random()
        if roll < 0.15:
            return self.rng.uniform(0.0, 0.3)  # a quick second thought
        if roll < 0.85:
            return self.rng.uniform(0.3, 3.0)
        return self.rng.uniform(QUIET + 1, QUIET + 3)  # reading: the chat is quiet by now


async def run_crowd(
    kb: KnowledgeBase, settings: Settings, *, seed: int, options: CrowdOptions
) -> World:
    """Run `options.users` impatient people against a fresh bot; check everything at the end.

    Returns the world, its monitor holding the violations and figures. Call under virtual time.
    """
    import heapq

    world = World(kb, settings, seed=seed, fault_rate=options.fault_rate)
    await world.start()
    rng = random.Random(seed)  # noqa: S311 - a reproducible workload
    chats = [700_000 + index for index in range(options.users)]
    people = {
        chat: Impatient(world, chat, random.Random(f"{seed}-{chat}"), options)  # noqa: S311
        for chat in chats
    }
    horizon = options.actions * 1.7
    order = itertools.count()
    events: list[tuple[float, int, int]] = [
        (rng.uniform(0, 5), next(order), chat) for chat in chats
    ]
    events += [(rng.uniform(2, horizon), next(order), KILL) for _ in range(options.kills)]
    heapq.heapify(events)
    loop = asyncio.get_running_loop()
    while events:
        at, _, who = heapq.heappop(events)
        await asyncio.sleep(max(0.0, at - loop.time()))
        world.monitor.step += 1
        if who == KILL:
            await world.kill()
            continue
        wait = people[who].act()
        if wait is not None:
            heapq.heappush(events, (loop.time() + wait, next(order), who))
    await final_checks(world, chats, rng)
    monitor = world.monitor
    latencies = monitor.answer_latencies(faulted=False)
    p95, p99 = percentile(latencies, 0.95), percentile(latencies, 0.99)
    if p95 > 0.3 or p99 > 0.5:
        monitor.flag(
            "slow answers",
            None,
            f"press answered p95 {p95:.3f} s, p99 {p99:.3f} s (presses whose own answer call "
            "got no injected fault)",
        )
    urgent_p95 = percentile(monitor.urgent_clean, 0.95)
    if urgent_p95 > 0.3:
        monitor.flag(
            "slow urgent result",
            None,
            f"tick -> urgent result p95 {urgent_p95:.3f} s (results whose chat met no injected "
            "fault meanwhile)",
        )
    if overall := monitor.overall_violations():
        monitor.flag("over 30/s", None, f"{overall} message calls beyond Telegram's 30/s")
    for violation in world.api.violations:
        if "already answered" not in violation.detail:  # counted as "answered twice" above
            monitor.flag("Bot API violation", None, str(violation))
    await world.stop()
    return world


def report(world: World, *, seed: int, examples: int = 3, transcripts: bool = True) -> str:
    """The figures and the violations of a run, a few examples of each kind."""
    monitor = world.monitor
    outcomes = {outcome.value: count for outcome, count in world.outcomes.items()}
    lines = [
        f"seed {seed}: {len(monitor.calls)} Bot API calls, kills {world.kills}, faults "
        f"{dict(world.faults.kinds)}, outcomes {outcomes}",
        monitor.summary(),
    ]
    by_kind: defaultdict[str, list[Violation]] = defaultdict(list)
    for violation in monitor.violations:
        by_kind[violation.kind].append(violation)
    for kind, found in sorted(by_kind.items()):
        lines.append(f"{kind}: {len(found)}, in {len({v.chat for v in found})} chat(s)")
        lines += [f"    {violation}" for violation in found[:examples]]
    slow = sorted(
        (press for press in monitor.presses.values()),
        key=lambda press: press.answers[0][0] - press.at if press.answers else math.inf,
    )[-examples:]
    for press in reversed(slow):
        took = press.answers[0][0] - press.at if press.answers else math.inf
        lines.append(
            f"slow press: chat {press.chat} at {press.at:.2f} s {press.label!r}: {took:.3f} s"
        )
    if transcripts:
        if slow:
            press = slow[-1]
            lines.append(f"chat {press.chat} up to its slowest answer:")
            lines.append(monitor.transcript(press.chat, last=25, until=press.at + 5))
        firsts = {v.kind: v for v in reversed(monitor.violations) if v.chat is not None}
        for violation in firsts.values():
            assert violation.chat is not None
            lines.append(f"chat {violation.chat} up to its first {violation.kind!r}:")
            lines.append(monitor.transcript(violation.chat, last=25, until=violation.at))
    return "\n".join(lines)
