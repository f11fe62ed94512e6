"""No framework: a raw aiohttp loop making the same calls, the practical limit of this machine.

getUpdates in a loop; each update becomes a task that posts its calls as JSON: a text two
sendMessage, a press answerCallbackQuery then editMessageText. No objects, no validation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import aiohttp
from screen import ALLOWED_UPDATES, api_base, load_screen, token

SCREEN = load_screen()
JSON = {"Content-Type": "application/json"}


async def call(session: aiohttp.ClientSession, url: str, payload: dict[str, Any]) -> Any:
    async with session.post(url, data=json.dumps(payload), headers=JSON) as response:
        body = json.loads(await response.read())
    if not body.get("ok"):
        raise RuntimeError(f"{url.rsplit('/', 1)[-1]} failed")
    return body["result"]


async def handle(session: aiohttp.ClientSession, root: str, update: dict[str, Any]) -> None:
    query = update.get("callback_query")
    if query is not None:
        message = query["message"]
        await call(session, f"{root}/answerCallbackQuery", {"callback_query_id": query["id"]})
        edit = {
            "chat_id": message["chat"]["id"],
            "message_id": message["message_id"],
            "text": SCREEN["text"],
            "reply_markup": SCREEN["markup"],
        }
        await call(session, f"{root}/editMessageText", edit)
        return
    chat_id = update["message"]["chat"]["id"]
    await call(session, f"{root}/sendMessage", {"chat_id": chat_id, "text": SCREEN["welcome"]})
    question = {"chat_id": chat_id, "text": SCREEN["text"], "reply_markup": SCREEN["markup"]}
    await call(session, f"{root}/sendMessage", question)


async def poll(session: aiohttp.ClientSession, root: str) -> None:
    offset = 0
    tasks: set[asyncio.Task[None]] = set()
    while True:
        request = {"offset": offset, "timeout": 10, "allowed_updates": ALLOWED_UPDATES}
        for update in await call(session, f"{root}/getUpdates", request):
            offset = update["update_id"] + 1
            task = asyncio.create_task(handle(session, root, update))
            tasks.add(task)
            task.add_done_callback(tasks.discard)


async def run() -> None:
    root = f"{api_base()}/bot{token()}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100)) as session:
        poller = asyncio.create_task(poll(session, root))
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, poller.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await poller


if __name__ == "__main__":
    asyncio.run(run())
