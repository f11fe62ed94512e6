"""End to end: a user plays whole questionnaires by pressing buttons and gets the engine's triage.

Cases come from the public clinical vignettes (`../shared/clinical/vignettes-public.json`, beside
the clone in CI). The user answers from the facts as `bot.engine.questionnaire.assess.run_case`
does, so the result message must be exactly the engine's result. Two tests stop the bot halfway,
start a new
process on the same store (SQLite file, then a real Redis) and finish there.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.primitives import UNKNOWN, localize
from bot.engine.questionnaire.assess import run_case
from bot.render.questionnaire import result_text
from bot.store.base import SessionStore
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore
from bot.telegram.app import AnyApplication, build_application
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver
from tests.shared import SHARED, shared_file

MAX_PRESSES = 200
HALFWAY = 6
RESTART_CASE = "v41"  # urgent, 16 taps: long enough to stop halfway

Facts = dict[str, str]


VIGNETTES = "clinical/vignettes-public.json"


def vignettes() -> list[dict[str, Any]]:
    """Return the public vignettes, or skip the calling test when ../shared/ is absent."""
    cases: list[dict[str, Any]] = json.loads(shared_file(VIGNETTES).read_text(encoding="utf-8"))
    return cases


def vignette_params() -> list[Any]:
    """One parameter per public vignette; a single skipped one when the file is absent."""
    path = SHARED / VIGNETTES
    if not path.is_file():
        reason = f"{path} not found: the shared clinical material sits beside the clone in CI"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="no-vignettes")]
    cases = json.loads(path.read_text(encoding="utf-8"))
    return [pytest.param(case, id=str(case["id"])) for case in cases]


@asynccontextmanager
async def running(
    settings: Settings, kb: KnowledgeBase, store: SessionStore, api: FakeBotApi
) -> AsyncIterator[AnyApplication]:
    """Run one bot process: initialise, post_init, ..., shutdown, post_shutdown (closes store)."""
    app = build_application(settings, kb, store, request=api)
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        yield app
    assert app.post_shutdown is not None
    await app.post_shutdown(app)


def result_buttons(kb: KnowledgeBase, language: str) -> list[str]:
    return [kb.text("why", language), kb.text("restart", language)]


async def play(
    driver: ChatDriver, kb: KnowledgeBase, facts: Facts, *, presses: int, language: str = "en"
) -> bool:
    """Answer from `facts` for at most `presses` presses; return whether the whole answer is
    shown (on the interim answer the user presses "Tailor my advice")."""
    tailor = kb.text("tailor", language)
    for _ in range(presses):
        if is_result(driver, kb, language):
            if tailor not in driver.current_buttons():
                return True
            await driver.press(tailor)
            continue
        await driver.press(next_button(driver, kb, facts, language))
    return is_result(driver, kb, language) and tailor not in driver.current_buttons()


def is_result(driver: ChatDriver, kb: KnowledgeBase, language: str) -> bool:
    """Tell whether a result is shown: its buttons include Why? and Restart (and may add more)."""
    return set(result_buttons(kb, language)) <= set(driver.current_buttons())


def next_button(driver: ChatDriver, kb: KnowledgeBase, facts: Facts, language: str = "en") -> str:
    """Return the label a user with `facts` presses next on the current question."""
    question = shown_question(driver, kb, language)
    buttons = driver.current_buttons()
    if isinstance(question, ChecklistQuestion):
        ticked = {
            item.finding
            for item in question.items
            if f"☑ {localize(item.label, language)}" in buttons
        }
        for item in question.items:
            label = localize(item.label, language)
            if facts.get(item.finding) in item.values and item.finding not in ticked:
                return f"☐ {label}"
        done = kb.text("done", language)
        return done if done in buttons else kb.text("none_of_these", language)
    wanted = facts.get(question.finding, UNKNOWN)
    labels = {option.value: localize(option.label, language) for option in question.options}
    return labels.get(wanted, kb.text("not_sure", language))


def shown_question(driver: ChatDriver, kb: KnowledgeBase, language: str = "en") -> Any:
    text = driver.screen_text()
    matches = [
        q for q in kb.questions if f"{text}\n".startswith(localize(q.text, language) + "\n")
    ]
    assert len(matches) == 1, f"cannot tell which question is shown:\n{driver.screen()}"
    return matches[0]


def expected_result(kb: KnowledgeBase, facts: Facts, language: str = "en") -> str:
    return result_text(kb, run_case(kb, facts).result, language)


@pytest.mark.parametrize("case", vignette_params())
async def test_buttons_reach_the_engine_triage_for_each_public_vignette(
    driver: ChatDriver, kb: KnowledgeBase, case: dict[str, Any]
) -> None:
    await driver.send("/start")

    assert await play(driver, kb, case["facts"], presses=MAX_PRESSES)

    expected = expected_result(kb, case["facts"])
    assert driver.screen_text() == expected
    assert driver.screen_text().split()[0] == kb.levels[case["expected_triage"]].banner
    assert driver.unanswered_callbacks() == []


@pytest.mark.parametrize("case", vignette_params())
async def test_a_norwegian_user_gets_the_same_triage_in_norwegian(
    app: AnyApplication, api: FakeBotApi, kb: KnowledgeBase, case: dict[str, Any]
) -> None:
    """The whole questionnaire in Bokmål, for a Telegram app set to Norwegian (nb-NO)."""
    driver = ChatDriver(app, api, language_code="nb-NO")
    await driver.send("/start")

    assert await play(driver, kb, case["facts"], presses=MAX_PRESSES, language="nb")

    assert driver.screen_text() == expected_result(kb, case["facts"], "nb")
    assert driver.unanswered_callbacks() == []


def restart_case() -> Facts:
    case = next(case for case in vignettes() if case["id"] == RESTART_CASE)
    facts: Facts = case["facts"]
    return facts


async def play_across_a_restart(
    settings: Settings, kb: KnowledgeBase, open_store: Callable[[], Any]
) -> None:
    """Play half the questionnaire, stop the bot, start a new one on the same store, finish."""
    facts, api = restart_case(), FakeBotApi()
    async with running(settings, kb, await open_store(), api) as first:
        driver = ChatDriver(first, api)
        await driver.send("/start")
        assert not await play(driver, kb, facts, presses=HALFWAY)
    async with running(settings, kb, await open_store(), api) as second:
        driver = ChatDriver(second, api)
        assert await play(driver, kb, facts, presses=MAX_PRESSES)
        assert driver.screen_text() == expected_result(kb, facts)
        assert driver.unanswered_callbacks() == []
    api.assert_clean()


async def test_sqlite_session_survives_a_bot_restart_halfway(
    settings: Settings, kb: KnowledgeBase, tmp_path: Path
) -> None:
    path = tmp_path / "sessions.db"

    async def open_store() -> SessionStore:
        return await SqliteStore.open(path, ttl_seconds=3600)

    await play_across_a_restart(settings, kb, open_store)


async def test_redis_session_survives_a_bot_restart_halfway(
    settings: Settings, kb: KnowledgeBase, redis_url: str, redis_namespace: str
) -> None:
    async def open_store() -> SessionStore:
        return RedisStore.from_url(redis_url, ttl_seconds=3600, namespace=redis_namespace)

    await play_across_a_restart(settings, kb, open_store)
