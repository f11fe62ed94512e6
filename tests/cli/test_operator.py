"""`crampcheck webhook set|delete|info`, `stats` and `forget`, on the fake API and real stores."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import SecretStr
from telegram import Bot

from bot.cli.main import main
from bot.cli.operator import make_bot, webhook_command
from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.base import PROFILE, SessionKey
from bot.store.sqlite import SqliteStore
from bot.telegram.app import ALLOWED_UPDATES, build_application
from tests.conftest import TOKEN
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver
from tests.observability.test_observer import FREE_TEXT, play_to_result

SECRET = "s3cret_Webhook-value"
URL = "https://bot.example.org/telegram/hook"
CHAT_IDS = (987_654_321_001, 987_654_321_002, 987_654_321_003)


@pytest.fixture
def webhook_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"webhook_url": URL, "webhook_secret": SecretStr(SECRET), "api_url": "http://api"}
    )


def fake_bot(api: FakeBotApi) -> Bot:
    return Bot(TOKEN, request=api)


async def test_webhook_set_registers_url_secret_and_allowed_updates(
    webhook_settings: Settings, api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await webhook_command("set", webhook_settings, bot=fake_bot(api), drop_pending=True)

    params = api.last("setWebhook").params
    assert code == 0
    assert params["url"] == URL
    assert params["secret_token"] == SECRET
    assert params["allowed_updates"] == ALLOWED_UPDATES
    assert params["drop_pending_updates"] is True
    out = capsys.readouterr().out
    assert URL in out
    assert SECRET not in out


async def test_webhook_set_without_url_or_secret_exits_two_and_calls_nothing(
    settings: Settings, api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await webhook_command("set", settings, bot=fake_bot(api)) == 2
    assert api.calls_to("setWebhook") == []
    assert "CRAMPCHECK_WEBHOOK_URL" in capsys.readouterr().err


async def test_webhook_delete_and_info(
    webhook_settings: Settings, api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    await webhook_command("set", webhook_settings, bot=fake_bot(api))
    capsys.readouterr()

    assert await webhook_command("info", webhook_settings, bot=fake_bot(api)) == 0
    info = capsys.readouterr().out
    assert await webhook_command("delete", webhook_settings, bot=fake_bot(api)) == 0

    assert f"url: {URL}" in info
    assert "pending_update_count: 0" in info
    assert SECRET not in info
    assert TOKEN not in info
    assert api.last("deleteWebhook").params.get("drop_pending_updates") in (None, False)


async def test_webhook_info_masks_a_token_in_the_reported_url(
    webhook_settings: Settings, api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.webhook_url = f"https://bot.example.org/{TOKEN}/hook"

    await webhook_command("info", webhook_settings, bot=fake_bot(api))

    assert TOKEN not in capsys.readouterr().out


async def test_a_telegram_refusal_exits_one_without_the_token(
    webhook_settings: Settings, api: FakeBotApi, capsys: pytest.CaptureFixture[str]
) -> None:
    api.fail_next("setWebhook", status=400, description=f"Bad Request: bad webhook for {TOKEN}")

    assert await webhook_command("set", webhook_settings, bot=fake_bot(api)) == 1
    err = capsys.readouterr().err
    assert "Bad webhook for <token>" in err
    assert TOKEN not in err


def test_the_command_bot_uses_the_configured_token_and_api_url(
    webhook_settings: Settings,
) -> None:
    bot = make_bot(webhook_settings)
    assert bot.token == TOKEN
    assert bot.base_url == f"http://api{TOKEN}"


def test_webhook_without_a_token_exits_two(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    assert main(["webhook", "info"]) == 2


async def play_one(
    settings: Settings, kb: KnowledgeBase, store_path: Path, *, chat_id: int, finish: bool
) -> None:
    """One user on the bot, on the SQLite file: /start, some text, and maybe to the result."""
    api = FakeBotApi()
    store = await SqliteStore.open(store_path)
    app = build_application(settings, kb, store, request=api)
    async with app:
        driver = ChatDriver(app, api, chat_id=chat_id)
        await driver.send("/start")
        await driver.send(FREE_TEXT)
        if finish:
            await play_to_result(driver, kb)
    await store.close()
    api.assert_clean()


def test_stats_on_a_store_not_made_yet_says_so_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data" / "sessions.db"
    monkeypatch.setenv("CRAMPCHECK_STORE", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)

    assert main(["stats"]) == 1

    assert "nothing has been stored yet" in capsys.readouterr().err
    assert not path.parent.exists()


def test_stats_count_conversations_without_ids_or_answers(
    settings: Settings,
    kb: KnowledgeBase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "sessions.db"
    for chat_id, finish in ((CHAT_IDS[0], True), (CHAT_IDS[1], True), (CHAT_IDS[2], False)):
        asyncio.run(play_one(settings, kb, path, chat_id=chat_id, finish=finish))
    monkeypatch.setenv("CRAMPCHECK_STORE", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)

    assert main(["stats", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert main(["stats"]) == 0
    text = capsys.readouterr().out

    assert report["conversations_started"] == 3
    assert report["conversations_finished"] == 2
    assert sum(report["results_by_level"].values()) == 2
    assert sum(report["results_by_top_cause"].values()) == 2
    assert report["languages"]["en"] == 3
    assert report["median_taps_to_result"] > 0
    for output in (json.dumps(report), text):
        assert "987654321" not in output
        assert "canary-7f3a" not in output
    assert "finished with a result: 2" in text


async def fill(path: Path) -> None:
    """User 42 in two chats plus a language preference; user 43 in one chat."""
    store = await SqliteStore.open(path)
    await store.put(SessionKey(1, 42), '{"a": 1}', expected_revision=0)
    await store.put(SessionKey(2, 42), '{"a": 2}', expected_revision=0)
    await store.put(SessionKey(0, 42, PROFILE), '{"language": "nb"}', expected_revision=0)
    await store.put(SessionKey(1, 43), '{"a": 3}', expected_revision=0)
    await store.close()


async def count(path: Path) -> int:
    store = await SqliteStore.open(path)
    try:
        return await store.count()
    finally:
        await store.close()


def test_forget_erases_every_record_of_the_user_and_says_how_many(
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "sessions.db"
    asyncio.run(fill(path))
    monkeypatch.setenv("CRAMPCHECK_STORE", f"sqlite:///{path}")
    monkeypatch.chdir(tmp_path)

    assert main(["forget", "42"]) == 0
    out = capsys.readouterr().out

    assert "erased: 3 record(s)" in out
    assert "42" not in out
    assert asyncio.run(count(path)) == 1


@pytest.mark.parametrize("user_id", ["abc", "-5", "0", "4.2", "٤٢"])
def test_forget_refuses_what_is_not_a_user_id(
    user_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["forget", user_id])
    assert exited.value.code == 2
    assert "positive whole number" in capsys.readouterr().err
