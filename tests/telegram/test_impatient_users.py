"""Impatient people, modelled: issue 12's invariants hold whatever they press, and when.

A seeded crowd (tests/fakes/impatient.py) presses any button of any of its messages at random
moments, often twice in a row and while the bot is still sending, types junk, sends /start and
/restart mid-way; in the hostile run the Bot API fails now and then (timeouts, 5xx, 429) and the
bot is killed and restarted with the unsettled updates redelivered. The bot is the real one (real
request chain and pacing, memory store read through the memory of its own writes, as one
`crampcheck run` process has it), in virtual time (a looptime loop of the test's own,
`run_in_virtual_time`; no pytest plugin), so minutes of pacing take a second or two. Checked as
the events happen and once quiet: every press answered exactly once and fast (p95 <= 0.3 s,
p99 <= 0.5 s), a press drawn at the stored revision (or on the newest screen of a quiet chat)
applied, no chat stuck, no screen sent twice, no old screen coming back, the urgent result
first and within 0.3 s of the tick (p95), new messages within the chat's token bucket (the
bot's `bucket_violations`, edits excluded), every message call within Telegram's 30/s, record
and screen in agreement, no bot task left running.

Bigger runs: CRAMPCHECK_IMPATIENT_USERS (default 20), CRAMPCHECK_IMPATIENT_ACTIONS (30 each),
CRAMPCHECK_IMPATIENT_SEEDS (a number of seeds, or a comma-separated list; default one seed).
"""

from __future__ import annotations

import os

import pytest

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from tests.fakes.impatient import CrowdOptions, report, run_crowd, run_in_virtual_time


def _seeds(default: list[int]) -> list[int]:
    value = os.environ.get("CRAMPCHECK_IMPATIENT_SEEDS", "").strip()
    if not value:
        return default
    if "," in value:
        return [int(seed) for seed in value.split(",") if seed.strip()]
    return list(range(default[0], default[0] + int(value)))


USERS = int(os.environ.get("CRAMPCHECK_IMPATIENT_USERS", "20"))
ACTIONS = int(os.environ.get("CRAMPCHECK_IMPATIENT_ACTIONS", "30"))


@pytest.mark.parametrize("seed", _seeds([1, 21]))  # 21: a screen sent after the state moved on
def test_impatient_people_on_a_healthy_bot_api_are_never_trapped(
    kb: KnowledgeBase, settings: Settings, seed: int
) -> None:
    options = CrowdOptions(users=USERS, actions=ACTIONS)
    world = run_in_virtual_time(lambda: run_crowd(kb, settings, seed=seed, options=options))
    assert not world.monitor.violations, report(world, seed=seed)


TIMING_UNDER_FAULTS = frozenset({"slow answers", "slow urgent result", "over 30/s"})
"""Not judged while the Bot API fails and the bot is killed (issue 12 asks for the speed
targets without faults): an answer or a result that met a 429 waits for it, and a restarted
process's in-process limiter does not know what the killed one sent in its last second (the
Redis limiter does). Reported all the same."""


# 135: text typed while its screen was on its way sent that screen again after it arrived;
# 139: /start during an emergency's wait for its start sent the new first question first;
# 192: a kill took an ordinary question's screen, and nothing brought it until the next update.
@pytest.mark.parametrize("seed", _seeds([101, 135, 139, 192]))
def test_impatient_people_through_bot_api_faults_and_kills_are_never_trapped(
    kb: KnowledgeBase, settings: Settings, seed: int
) -> None:
    options = CrowdOptions(users=USERS, actions=ACTIONS, fault_rate=0.05, kills=3)
    world = run_in_virtual_time(lambda: run_crowd(kb, settings, seed=seed, options=options))
    judged = [v for v in world.monitor.violations if v.kind not in TIMING_UNDER_FAULTS]
    assert not judged, report(world, seed=seed)
