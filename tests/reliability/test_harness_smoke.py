"""The figure-producing harnesses (bench/reliability/), each run small, as a smoke test.

Each starts real `crampcheck run` processes against the loopback Telegram, so this also tests
the bot end to end as it is deployed: polling with SIGKILLs and restarts, two webhook workers on
Redis, a Bot API that fails, and impatient users tapping fast with the real pacing on. The full
runs and their figures are in docs/reliability.md.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bench.reliability import crash, faults, impatient, load
from bench.reliability.common import wipe_redis
from tests.shared import require_redis

BENCH_REDIS = os.environ.get("CRAMPCHECK_BENCH_REDIS", "redis://127.0.0.1:6379/12")

pytestmark = pytest.mark.slow  # real bot processes: 4 to 15 s each


@pytest.fixture
async def bench_redis(real_network: None, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """Point the harness at a Redis database of its own; skip (or fail in CI) without Redis.

    The bot's keys (`crampcheck:*`) are deleted there afterwards, as the harness does before.
    """
    require_redis(BENCH_REDIS, variable="CRAMPCHECK_BENCH_REDIS")
    monkeypatch.setenv("CRAMPCHECK_BENCH_REDIS", BENCH_REDIS)
    yield BENCH_REDIS
    await wipe_redis()


@pytest.mark.usefixtures("real_network")
async def test_crash_smoke_loses_no_answer_across_sigkills(tmp_path: Path) -> None:
    figures = await crash.run("sqlite", kills=2, users=6, seed=3, workdir=tmp_path)

    assert figures["answers_applied"] > 0
    assert figures["answers_lost"] == 0
    assert figures["records_unreadable"] == 0
    assert figures["users_stuck"] == 0
    assert figures["bot_error_lines"] == 0
    assert figures["final_exit_code"] == 0


@pytest.mark.usefixtures("real_network")
async def test_load_smoke_polling_keeps_every_change_and_the_order(tmp_path: Path) -> None:
    figures = await load.run("polling", chats=12, seed=3, workdir=tmp_path)

    assert figures["updates_per_chat"] >= 20
    assert figures["lost_state_changes"] == 0
    assert figures["order_violations"] == 0
    assert figures["chats_stuck"] == 0
    assert figures["bot_error_lines"] == 0


@pytest.mark.usefixtures("bench_redis")
async def test_load_smoke_two_webhook_workers_on_redis(tmp_path: Path) -> None:
    figures = await load.run("webhook", chats=12, seed=3, workdir=tmp_path)

    assert figures["lost_state_changes"] == 0
    assert figures["order_violations"] == 0
    assert figures["chats_stuck"] == 0
    assert figures["exit_codes"] == [0, 0]


@pytest.mark.usefixtures("real_network")
async def test_faults_smoke_nothing_unhandled_nothing_stuck_no_rate_breach(
    tmp_path: Path,
) -> None:
    figures = await faults.run(
        users=6, seconds=4.0, seed=3, rate=0.05, workdir=tmp_path, with_timeouts=False, patience=4
    )

    assert sum(figures["faults_injected"].values()) > 0
    assert figures["unhandled_exceptions"] == 0
    assert figures["stuck_chats"] == 0
    assert figures["sends_above_chat_limit"] == 0
    assert figures["sends_above_total_limit"] == 0
    assert figures["answers_lost"] == 0


@pytest.mark.usefixtures("real_network")
async def test_impatient_smoke_every_press_answered_once_no_chat_trapped(tmp_path: Path) -> None:
    """Six impatient users, half of them in Bokmål, the real pacing, one SIGKILL: issue 12's
    counts are all 0."""
    figures = await impatient.run(
        "sqlite", users=6, seconds=6.0, fault_rate=0.0, kills=1, seed=3, workdir=tmp_path,
        bokmal=0.5,
    )  # fmt: skip

    assert figures["bokmal_users"] == 3
    assert figures["presses"] >= 10
    zero = {name: figures[name] for name in impatient.TARGETS}
    assert zero == dict.fromkeys(impatient.TARGETS, 0), figures["examples"]
    assert figures["quiet_at_end"]
    assert figures["unhandled_exceptions"] == 0
