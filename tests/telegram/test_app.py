"""Application wiring: token required, one start-up log line without secrets, quiet HTTP logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot import __version__
from bot.config import ConfigError, Settings
from bot.engine.models import KnowledgeBase
from bot.store.memory import MemoryStore
from bot.telegram import app as app_module
from bot.telegram.app import ALLOWED_UPDATES, build_application, configure_logging, run_bot

TOKEN = "123:TEST-secret-part"


def test_build_application_refuses_to_start_without_a_token(
    settings: Settings, kb: KnowledgeBase
) -> None:
    with pytest.raises(ConfigError, match="CRAMPCHECK_TOKEN"):
        build_application(settings.model_copy(update={"token": None}), kb, MemoryStore())


def test_allowed_updates_are_messages_edits_and_buttons() -> None:
    assert sorted(ALLOWED_UPDATES) == ["callback_query", "edited_message", "message"]


@pytest.fixture
def logger_levels() -> Iterator[None]:
    """Restore the levels configure_logging changes."""
    names = ("httpx", "telegram")
    before = {name: logging.getLogger(name).level for name in names}
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.usefixtures("logger_levels")
def test_logging_keeps_httpx_at_warning_and_ptb_at_info_even_in_debug() -> None:
    """httpx logs URLs holding the token; PTB's debug output holds the token and updates."""
    configure_logging("DEBUG")

    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("telegram").level == logging.INFO


@pytest.mark.usefixtures("logger_levels")
def test_run_bot_logs_one_line_with_version_mode_and_store_scheme_only(
    settings: Settings,
    kb: KnowledgeBase,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.INFO, logger="bot.telegram.app")
    ran: list[Any] = []

    def fake_run(app: Any, run_settings: Settings) -> None:
        """Stand in for run_polling: close the store and the loop as PTB would."""
        loop = asyncio.get_event_loop()
        loop.run_until_complete(app.post_shutdown(app))
        loop.close()
        asyncio.set_event_loop(None)
        ran.append(run_settings.mode)

    monkeypatch.setattr(app_module, "_run", fake_run)
    store_url = f"sqlite:///{tmp_path}/private-dir/sessions.db"
    token = SecretStr(TOKEN)
    run_bot(settings.model_copy(update={"store": store_url, "token": token}), kb)

    assert ran == ["polling"]
    lines = [record.getMessage() for record in caplog.records if record.name == "bot.telegram.app"]
    assert len(lines) == 1
    assert __version__ in lines[0]
    assert "polling mode" in lines[0]
    assert "sqlite store" in lines[0]
    assert "private-dir" not in lines[0]
    assert all("secret-part" not in record.getMessage() for record in caplog.records)


class Recorder:
    """Stands in for the Application in `_run`: records which run method got which arguments."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, dict[str, Any]]] = []

    def run_polling(self, **kwargs: Any) -> None:
        self.runs.append(("polling", kwargs))

    def run_webhook(self, **kwargs: Any) -> None:
        self.runs.append(("webhook", kwargs))


def test_run_polls_or_serves_the_webhook_with_the_settings(settings: Settings) -> None:
    recorder = Recorder()
    webhook = settings.model_copy(
        update={
            "mode": "webhook",
            "webhook_url": "https://bot.example/tg/hook",
            "webhook_secret": SecretStr("abc_DEF-123"),
            "listen": "0.0.0.0",  # noqa: S104 - a value under test, nothing is bound
            "port": 8080,
        }
    )

    app_module._run(recorder, settings)  # type: ignore[arg-type]
    app_module._run(recorder, webhook)  # type: ignore[arg-type]

    assert recorder.runs == [
        ("polling", {"allowed_updates": ALLOWED_UPDATES}),
        (
            "webhook",
            {
                "listen": "0.0.0.0",  # noqa: S104
                "port": 8080,
                "url_path": "tg/hook",
                "webhook_url": "https://bot.example/tg/hook",
                "secret_token": "abc_DEF-123",
                "allowed_updates": ALLOWED_UPDATES,
            },
        ),
    ]
