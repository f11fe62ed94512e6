"""Crash harness: SIGKILL the bot at random points while users are mid-questionnaire.

`python -m bench.reliability.crash --store sqlite --kills 100` starts a loopback Telegram, lets
`--users` simulated users play (each press checked against the engine), and `--kills` times
starts `crampcheck run` (polling), waits a random 0.05-1 s after its first getUpdates and kills
it with SIGKILL. A last run lets every user settle, then stops with SIGTERM. Figures: answers
lost (presses the bot never applied, and stored sessions that differ from the users' own),
updates applied twice, duplicate replies per kill (callback queries answered again, welcome
messages repeated), stale screens (an answer kept but its new screen lost in the kill, fixed by
the user typing), and errors in the bot's log. Loopback only; every loop is bounded.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from bench.reliability.botproc import BotProcess, bot_env
from bench.reliability.common import (
    harness_parser,
    mismatches,
    percentile,
    run_harness,
    store_url,
    totals,
    wipe_redis,
)
from bench.reliability.fakeapi import FakeTelegram
from bench.reliability.users import Clock, SimUser
from bot.engine.lint import load_knowledge_base

START_TIMEOUT = 30.0


async def wait_for_poll(telegram: FakeTelegram, before: int, bot: BotProcess) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while telegram.polls <= before:
        if time.monotonic() > deadline or (bot.process and bot.process.returncode is not None):
            raise RuntimeError(f"the bot did not start polling:\n{bot.tail()}")
        await asyncio.sleep(0.01)


async def run(store: str, kills: int, users: int, seed: int, workdir: Path) -> dict[str, Any]:
    kb = load_knowledge_base()
    telegram = FakeTelegram()
    await telegram.start()
    url = store_url(store, workdir)
    if store == "redis":
        await wipe_redis()
    env = bot_env(
        telegram.base_url, url, CRAMPCHECK_RATE_LIMIT_TOTAL="0", CRAMPCHECK_RATE_LIMIT_CHAT="0"
    )
    bot = BotProcess(env, workdir / "bot.log")
    clock, stop, rng = Clock(), asyncio.Event(), random.Random(seed)
    sims = [
        SimUser(
            100_000 + n,
            telegram.api,
            kb,
            telegram.deliver,
            seed=seed * 10_000 + n,
            clock=clock,
            patience=4.0,
        )
        for n in range(users)
    ]
    players = [asyncio.create_task(user.play_until(stop, think=0.1)) for user in sims]
    started = time.monotonic()
    for _ in range(kills):
        polls = telegram.polls
        telegram.run += 1
        await bot.start()
        await wait_for_poll(telegram, polls, bot)
        clock.is_up = True
        await asyncio.sleep(rng.uniform(0.05, 1.0))
        clock.is_up = False
        await bot.kill()
    polls = telegram.polls
    telegram.run += 1
    await bot.start()  # the last run: everyone finishes the step they are on
    await wait_for_poll(telegram, polls, bot)
    clock.is_up = True
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*players), timeout=60)
    await asyncio.sleep(0.5)
    exit_code = await bot.stop()
    await telegram.stop()
    wrong, broken = await mismatches(url, sims)
    stats = totals(sims)
    starts = sum(
        1
        for call in telegram.api.calls_to("sendMessage")
        if str(call.params.get("text", "")).startswith(kb.text("welcome", "en"))
    )
    sent_starts = sum(user.starts for user in sims)
    duplicates = telegram.repeated_answers() + max(0, starts - sent_starts)
    return {
        "store": store,
        "kills": kills,
        "users": users,
        "seconds": round(time.monotonic() - started, 1),
        "answers_applied": stats.answers,
        "answers_lost": stats.lost + wrong,
        "presses_lost_in_flight": stats.lost,
        "sessions_differing_at_end": wrong,
        "records_unreadable": broken,
        "users_stuck": stats.stuck,
        "duplicate_replies": duplicates,
        "duplicate_replies_per_kill": round(duplicates / kills, 3) if kills else 0.0,
        "repeated_callback_answers": telegram.repeated_answers(),
        "stale_screens": stats.stale_screens,
        "presses_answered_moved_on": stats.moved_on,
        "redelivered_updates": telegram.redelivered(),
        "bot_error_lines": len(bot.error_lines()),
        "final_exit_code": exit_code,
        "p95_wait_s": round(percentile(stats.waits, 0.95), 3),
    }


def main() -> None:
    parser = harness_parser(__doc__)
    parser.add_argument("--store", choices=("sqlite", "redis"), default="sqlite")
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--users", type=int, default=30)
    args = parser.parse_args()
    run_harness(
        "crash", args, lambda workdir: run(args.store, args.kills, args.users, args.seed, workdir)
    )


if __name__ == "__main__":
    main()
