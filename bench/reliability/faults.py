"""Faults harness: a Bot API that times out, fails, resets and floods; the bot must cope.

`python -m bench.reliability.faults --users 30 --seconds 60` runs `crampcheck run` (polling,
default rate limits: 28 messages/s, 1 per chat per second) against a loopback Telegram that
fails a share of calls: 502s, 429s with retry_after, reset connections (before the call, or
after it took effect), and timeouts (before, or after the message went out). Users play for
`--seconds`; then the faults stop and every user finishes the step it is on. Figures:
unhandled exceptions (log lines that are not the error handler's report of a failed update,
and a process that died), stuck chats (users who could not go on even after typing to the bot),
sends above the rate limits (as the server saw them), and, besides: answers lost, repeated
callback answers, updates that ended in the error handler's apology, faults by kind.
"""

from __future__ import annotations

import asyncio
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
)
from bench.reliability.fakeapi import FakeTelegram, FaultPlan
from bench.reliability.users import Clock, SimUser
from bot.engine.lint import load_knowledge_base

HANDLED = ("bot.telegram.ui.messages",)
"""The error handler's own report of a failed update (the user got an apology)."""
GIVEN_UP = "given up"
DIED = ("Task exception was never retrieved", "Exception in callback", "uncaught error")


def classify(lines: list[str]) -> dict[str, int]:
    """Split the bot's error lines: handled failures, given-up updates, and the rest."""
    errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
    handled = [line for line in errors if any(f" {name}:" in line for name in HANDLED)]
    given_up = [line for line in errors if GIVEN_UP in line]
    unhandled = [line for line in errors if line not in handled and line not in given_up]
    unhandled += [line for line in lines if any(marker in line for marker in DIED)]
    return {"handled": len(handled), "given_up": len(given_up), "unhandled": len(unhandled)}


async def run(
    users: int,
    seconds: float,
    seed: int,
    rate: float,
    workdir: Path,
    *,
    patience: float = 20.0,
    with_timeouts: bool = True,
) -> dict[str, Any]:
    """Run the harness; `with_timeouts=False` leaves out the 5.5 s timeouts (quick smoke runs)."""
    kb = load_knowledge_base()
    slow = rate / 4 if with_timeouts else 0.0
    plan = FaultPlan(
        server_error=rate, flood=rate, reset=rate / 2, reset_after=rate / 2,
        timeout=slow, timeout_after=slow, seed=seed,
    )  # fmt: skip
    telegram = FakeTelegram(plan)
    await telegram.start()
    url = store_url("sqlite", workdir)
    bot = BotProcess(bot_env(telegram.base_url, url), workdir / "bot.log")
    clock, stop = Clock(), asyncio.Event()
    sims = [
        SimUser(
            300_000 + n,
            telegram.api,
            kb,
            telegram.deliver,
            seed=seed * 1000 + n,
            clock=clock,
            patience=patience,
        )
        for n in range(users)
    ]
    await bot.start()
    deadline = time.monotonic() + 30
    while telegram.polls == 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"the bot did not start polling:\n{bot.tail()}")
        await asyncio.sleep(0.05)
    clock.is_up = True
    players = [asyncio.create_task(user.play_until(stop, think=0.5)) for user in sims]
    await asyncio.sleep(seconds)
    injected = dict(plan.injected)
    for kind in ("server_error", "flood", "reset", "reset_after", "timeout", "timeout_after"):
        setattr(plan, kind, 0.0)  # the faults stop: everyone must now be able to go on
    stop.set()
    await asyncio.wait_for(asyncio.gather(*players), timeout=300)
    exit_code = await bot.stop()
    await telegram.stop()
    wrong, broken = await mismatches(url, sims)
    stats = totals(sims)
    lines = classify(bot.error_lines())
    violations = telegram.rate_violations(per_chat=1.0, burst=3, per_second=30)
    return {
        "users": users,
        "seconds_with_faults": seconds,
        "fault_rate_per_kind": rate,
        "faults_injected": injected,
        "bot_api_calls": len(telegram.api.calls),
        "answers_applied": stats.answers,
        "unhandled_exceptions": lines["unhandled"] + (exit_code != 0),
        "updates_ended_in_apology": lines["handled"],
        "updates_given_up": lines["given_up"],
        "stuck_chats": stats.stuck + stats.diverged,
        "sends_above_chat_limit": violations["chat"],
        "sends_above_total_limit": violations["total"],
        "answers_lost": stats.lost + wrong,
        "presses_answered_moved_on": stats.moved_on,
        "records_unreadable": broken,
        "repeated_callback_answers": telegram.repeated_answers(),
        "nudges": stats.nudges,
        "p95_wait_s": round(percentile(stats.waits, 0.95), 2),
        "final_exit_code": exit_code,
    }


def main() -> None:
    parser = harness_parser(__doc__)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=0.03, help="chance of each fault kind")
    args = parser.parse_args()
    run_harness(
        "faults",
        args,
        lambda workdir: run(args.users, args.seconds, args.seed, args.rate, workdir),
    )


if __name__ == "__main__":
    main()
