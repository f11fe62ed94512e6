"""Count handled updates by kind and time their handlers, from PTB handler groups of our own.

`UpdateTimer.attach(app)` adds a `TypeHandler` in group -1 that notes when an update arrived
and one in the last group that records the update's kind, outcome and handler latency, plus an
error handler that marks the update failed. PTB runs the groups in order and goes on to later
groups after an error, so the bot's own handlers (group 0) need no change. Only the kind is
recorded: never an id, text or callback data.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from telegram import Update
from telegram.ext import Application, ContextTypes, TypeHandler

from bot.observability.metrics import OTHER, Metrics

logger = logging.getLogger(__name__)

FIRST_GROUP = -1
LAST_GROUP = 1_000_000
"""After every handler group the bot uses."""
MAX_IN_FLIGHT = 10_000
"""Updates tracked at once; an update whose end we never see is forgotten after this many."""


def update_kind(update: Update) -> str:
    """Return `message`, `callback`, `edited` or `other`."""
    if update.message is not None:
        return "message"
    if update.callback_query is not None:
        return "callback"
    if update.edited_message is not None:
        return "edited"
    return OTHER


class UpdateTimer:
    """Measure each update from group -1 to the last group; count it by kind and outcome."""

    def __init__(
        self, metrics: Metrics, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._metrics = metrics
        self._clock = clock
        # id(update) -> (update, start, failed); holding the update keeps its id unique.
        self._in_flight: OrderedDict[int, tuple[Update, float, bool]] = OrderedDict()

    def attach(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Register the start and end handlers and the error marker on `app`."""
        app.add_handler(TypeHandler(Update, self.on_arrival), group=FIRST_GROUP)
        app.add_handler(TypeHandler(Update, self.on_finish), group=LAST_GROUP)
        app.add_error_handler(self.on_error)

    async def on_arrival(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        self._in_flight[id(update)] = (update, self._clock(), False)
        while len(self._in_flight) > MAX_IN_FLIGHT:
            self._in_flight.popitem(last=False)

    async def on_finish(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        entry = self._in_flight.pop(id(update), None)
        if entry is None or entry[0] is not update:
            return
        seconds, kind = self._clock() - entry[1], update_kind(update)
        self._metrics.record_update(kind, seconds=seconds, is_error=entry[2])
        extra = {"update_id": update.update_id, "kind": kind, "duration_ms": seconds * 1000}
        logger.debug("handled update %d (%s) in %.1f ms", *extra.values(), extra=extra)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Mark the update as failed; the bot's own error handler logs and apologises."""
        entry = self._in_flight.get(id(update))
        if entry is not None and entry[0] is update:
            self._in_flight[id(update)] = (entry[0], entry[1], True)
