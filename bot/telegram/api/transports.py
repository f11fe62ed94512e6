"""The HTTP transport under the Bot API request chain, picked by `CRAMPCHECK_HTTP`.

`aiohttp` (the default) is `bot.telegram.api.transport.AiohttpRequest`, several times cheaper per
call than PTB's httpx-based `HTTPXRequest` (`httpx`), which stays available as the fallback. As in
PTB's `ApplicationBuilder`, the bot's calls share a pool of 256 connections and getUpdates gets an
instance of its own with one connection, so a long poll neither waits for nor holds a slot the
calls need; `Bot.get_updates` adds the poll's timeout to that instance's read timeout.
"""

from __future__ import annotations

from typing import Literal

from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram.api.transport import AiohttpRequest

HttpKind = Literal["aiohttp", "httpx"]
POOL_SIZE = 256
"""PTB's default pool for the bot's calls (ApplicationBuilder._build_request)."""
UPDATES_POOL_SIZE = 1
"""PTB's default pool for getUpdates: one long poll at a time."""


def http_transport(kind: HttpKind, *, for_updates: bool = False) -> BaseRequest:
    """Return a new transport of `kind`: for the bot's calls, or for getUpdates alone."""
    size = UPDATES_POOL_SIZE if for_updates else POOL_SIZE
    if kind == "httpx":
        return HTTPXRequest(connection_pool_size=size)
    return AiohttpRequest(connection_pool_size=size)
