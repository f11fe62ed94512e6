"""Load harness: many chats, each with 20 updates, over the real HTTP stack on loopback.

`python -m bench.reliability.load --mode polling --chats 1000` runs one `crampcheck run`
(polling) against the loopback Telegram; `--mode webhook` runs two webhook workers sharing
Redis, and the harness plays Telegram: it posts each chat's updates one after another (as
Telegram does per chat), each to a random worker, and delivers again after a 5xx. Each chat
sends /start, 14 closed-loop actions (a press on what it sees, or /start after a result) and a
burst of 5 commands at once, whose replies must come in the order sent. Figures: lost and
duplicated state changes (users' own engine replay against the stored records, and presses
that had no effect), per-chat order violations, throughput and latency. The rate limits are
off (this fake is not Telegram, and at 28 messages/s the run would take ten minutes).
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.reliability.botproc import BotProcess, bot_env, free_port
from bench.reliability.common import (
    harness_parser,
    mismatches,
    percentile,
    run_harness,
    store_url,
    totals,
    wipe_redis,
)
from bench.reliability.fakeapi import HOST, FakeTelegram
from bench.reliability.users import Clock, SimUser
from bot.engine.kb.models import KnowledgeBase
from bot.engine.lint import load_knowledge_base

SECRET = "bench-webhook-secret"
BURST = ("/help", "/about", "/privacy")
ACTIONS = 14
START_TIMEOUT = 30.0


def reply_kind(kb: KnowledgeBase, text: str) -> str | None:
    """Tell which burst command a reply answers, by its opening words."""
    for command, key in (("/help", "help"), ("/about", "about"), ("/privacy", "privacy")):
        if text.startswith(kb.text(key, "en").split("{")[0][:20]):
            return command
    return None


async def burst(user: SimUser, kb: KnowledgeBase, rng: random.Random) -> None:
    """Send five commands at once; count a violation if their replies come out of order."""
    commands = [rng.choice(BURST) for _ in range(5)]
    texts = user.api.sent_texts.setdefault(user.chat_id, [])
    seen_before = len(texts)
    for command in commands:
        await user.deliver(user.message(command))

    def replies() -> list[str]:
        return [kind for text in texts[seen_before:] if (kind := reply_kind(kb, text)) is not None]

    if not await user.wait(lambda: len(replies()) >= len(commands)):
        user.stats.lost += len(commands) - len(replies())
        return
    user.stats.actions += len(commands)
    user.stats.order_violations += replies()[: len(commands)] != commands


async def chat(user: SimUser, kb: KnowledgeBase, rng: random.Random) -> None:
    if not await user.start():
        user.stats.stuck += 1
        return
    await user.play(ACTIONS, think=0.02)
    await burst(user, kb, rng)


def webhook_sender(session: aiohttp.ClientSession, ports: list[int], rng: random.Random) -> Any:
    """Deliver like Telegram: to any worker, again after a 5xx or a refused connection."""

    async def send(update: dict[str, Any]) -> None:
        for attempt in range(20):
            url = f"http://{HOST}:{rng.choice(ports)}/hook"
            try:
                async with session.post(
                    url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                ) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1 * (attempt + 1))
        raise RuntimeError(f"update {update['update_id']} not accepted after 20 deliveries")

    return send


async def start_workers(
    telegram: FakeTelegram, mode: str, workdir: Path
) -> tuple[list[BotProcess], list[int], str]:
    off = {"CRAMPCHECK_RATE_LIMIT_TOTAL": "0", "CRAMPCHECK_RATE_LIMIT_CHAT": "0"}
    if mode == "polling":
        url = store_url("sqlite", workdir)
        bot = BotProcess(bot_env(telegram.base_url, url, **off), workdir / "bot.log")
        await bot.start()
        deadline = time.monotonic() + START_TIMEOUT
        while telegram.polls == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the bot did not start:\n{bot.tail()}")
            await asyncio.sleep(0.05)
        return [bot], [], url
    await wipe_redis()
    url = store_url("redis", workdir)
    bots, ports = [], []
    for number in range(2):
        port = free_port()
        webhook = {
            "CRAMPCHECK_MODE": "webhook",
            "CRAMPCHECK_WEBHOOK_URL": "https://bot.example/hook",
            "CRAMPCHECK_WEBHOOK_SECRET": SECRET,
            "CRAMPCHECK_LISTEN": HOST,
            "CRAMPCHECK_PORT": str(port),
        }
        bot = BotProcess(
            bot_env(telegram.base_url, url, **off, **webhook), workdir / f"worker{number}.log"
        )
        await bot.start()
        bots.append(bot)
        ports.append(port)
    deadline = time.monotonic() + START_TIMEOUT
    while len(telegram.api.calls_to("setWebhook")) < 2:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the workers did not start:\n{bots[0].tail()}")
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # setWebhook comes just before the server listens
    return bots, ports, url


async def run(mode: str, chats: int, seed: int, workdir: Path) -> dict[str, Any]:
    kb = load_knowledge_base()
    telegram = FakeTelegram()
    await telegram.start()
    bots, ports, url = await start_workers(telegram, mode, workdir)
    clock, rng = Clock(), random.Random(seed)
    clock.is_up = True
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        send = telegram.deliver if mode == "polling" else webhook_sender(session, ports, rng)
        users = [
            SimUser(
                200_000 + n,
                telegram.api,
                kb,
                send,
                seed=seed * 100_000 + n,
                clock=clock,
                patience=30.0,
            )
            for n in range(chats)
        ]
        started = time.monotonic()
        await asyncio.gather(
            *(chat(user, kb, random.Random(seed + n)) for n, user in enumerate(users))
        )
        elapsed = time.monotonic() - started
    exit_codes = [await bot.stop() for bot in bots]
    await telegram.stop()
    wrong, broken = await mismatches(url, users)
    stats = totals(users)
    return {
        "mode": mode if mode == "polling" else "webhook, 2 workers, Redis",
        "chats": chats,
        "updates_sent": stats.actions + stats.nudges,
        "updates_per_chat": round((stats.actions + stats.nudges) / chats, 1),
        "seconds": round(elapsed, 1),
        "updates_per_second": round((stats.actions + stats.nudges) / elapsed, 1),
        "state_changes_applied": stats.answers,
        "lost_state_changes": stats.lost + wrong,
        "sessions_differing_at_end": wrong,
        "records_unreadable": broken,
        "order_violations": stats.order_violations,
        "stale_screens": stats.stale_screens,
        "presses_answered_moved_on": stats.moved_on,
        "chats_stuck": stats.stuck + stats.diverged,
        "p50_wait_s": round(percentile(stats.waits, 0.5), 3),
        "p95_wait_s": round(percentile(stats.waits, 0.95), 3),
        "bot_error_lines": sum(len(bot.error_lines()) for bot in bots),
        "exit_codes": exit_codes,
    }


def main() -> None:
    parser = harness_parser(__doc__)
    parser.add_argument("--mode", choices=("polling", "webhook"), default="polling")
    parser.add_argument("--chats", type=int, default=1000)
    args = parser.parse_args()
    run_harness("load", args, lambda workdir: run(args.mode, args.chats, args.seed, workdir))


if __name__ == "__main__":
    main()
