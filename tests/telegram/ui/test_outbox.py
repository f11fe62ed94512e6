"""Urgent shows go first: an urgent show goes before a plain job that only waits to retry.

A plain message (a reply, a trip card) that failed for a passing reason waits before it is tried
again, in the outbox or in the request chain (`retry.pause_hook`). An emergency result posted
meanwhile must reach the chat first; the plain job runs again right after it.
"""

from __future__ import annotations

import asyncio

from telegram.error import NetworkError

from bot.telegram.api import retry
from bot.telegram.ui.outbox import Outbox

CHAT = 4242


async def test_an_urgent_show_goes_before_a_plain_job_waiting_in_the_outbox_to_retry() -> None:
    paused = asyncio.Event()

    async def sleep(delay: float) -> None:
        paused.set()
        await asyncio.sleep(3600)  # an urgent show must end this wait, not the clock

    outbox = Outbox(delays=(5.0,), sleep=sleep)
    done: list[str] = []
    tries = 0

    async def plain() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise NetworkError("Bad Gateway")
        done.append("plain")

    async def urgent() -> None:
        done.append("urgent")

    outbox.post(CHAT, plain)
    await asyncio.wait_for(paused.wait(), 1)
    outbox.show(CHAT, urgent, is_urgent=True)

    assert await outbox.drain(within=1)
    assert done == ["urgent", "plain"]
    assert tries == 2


async def test_an_urgent_show_goes_before_a_plain_job_in_the_request_chains_pause() -> None:
    paused = asyncio.Event()
    done: list[str] = []
    runs = 0

    async def plain() -> None:
        nonlocal runs
        runs += 1
        hook = retry.pause_hook.get()
        assert hook is not None, "the outbox lets the chain's pause yield"
        if runs == 1:
            paused.set()
            await hook(asyncio.sleep(3600))  # as RetryingRequest waits out a flood wait
        done.append("plain")

    async def urgent() -> None:
        done.append("urgent")

    outbox = Outbox()
    outbox.post(CHAT, plain)
    await asyncio.wait_for(paused.wait(), 1)
    outbox.show(CHAT, urgent, is_urgent=True)

    assert await outbox.drain(within=1)
    assert done == ["urgent", "plain"]
    assert runs == 2


async def test_a_plain_job_still_retries_after_its_pause_when_nothing_is_urgent() -> None:
    outbox = Outbox(delays=(0.0,))
    done: list[str] = []
    tries = 0

    async def plain() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise NetworkError("Bad Gateway")
        done.append("plain")

    outbox.post(CHAT, plain)

    assert await outbox.drain(within=1)
    assert done == ["plain"]
    assert retry.pause_hook.get() is None, "the hook is the job's own, not the caller's"


async def test_a_show_asked_for_while_a_screen_pauses_before_its_retry_tries_again_at_once() -> (
    None
):
    """The person acts while the chat's screen waits seconds to be tried again after a network
    failure: it is tried again now, not after the pause (the new show coalesces into it)."""
    paused = asyncio.Event()

    async def sleep(delay: float) -> None:
        paused.set()
        await asyncio.sleep(3600)  # only the person's action may end this wait

    outbox = Outbox(delays=(4.0, 4.0), sleep=sleep)
    tries = 0

    async def screen() -> None:
        nonlocal tries
        tries += 1
        if tries == 1:
            raise NetworkError("Bad Gateway")

    outbox.show(CHAT, screen)
    await asyncio.wait_for(paused.wait(), 1)
    outbox.show(CHAT, screen)  # a press: the chat should be brought to its record

    assert await outbox.drain(within=1)
    assert tries >= 2


async def test_stopping_the_outbox_during_a_pause_stops_the_job() -> None:
    paused = asyncio.Event()

    async def sleep(delay: float) -> None:
        paused.set()
        await asyncio.sleep(3600)

    outbox = Outbox(delays=(4.0,), sleep=sleep)

    async def screen() -> None:
        raise NetworkError("Bad Gateway")

    outbox.show(CHAT, screen)
    await asyncio.wait_for(paused.wait(), 1)

    await asyncio.wait_for(outbox.aclose(), 1)
    assert await outbox.drain(within=1)
