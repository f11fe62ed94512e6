"""Application wiring: token required, one start-up log line without secrets, quiet HTTP logs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from bot import __version__
from bot.config import ConfigError, Settings
from bot.engine.kb.models import KnowledgeBase
from bot.store.cached import CachingStore
from bot.store.memory import MemoryStore
from bot.telegram import app as app_module
from bot.telegram.app import ALLOWED_UPDATES, build_application, configure_logging, run_bot
from bot.telegram.features.questionnaire.handlers import QuestionnaireHandlers

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

    def fake_run(
        loop: asyncio.AbstractEventLoop, parts: Any, run_settings: Settings, *_: Any, **__: Any
    ) -> None:
        """Stand in for serving: close the store and the loop as `serve` would."""
        app = parts.application
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


def test_run_serves_in_the_settings_mode_and_closes_the_loop(
    settings: Settings, kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`_run` hands over to `serving.serve` (our own polling and webhook), not PTB's run_*."""
    served: list[tuple[str, list[str], Any, Any]] = []

    async def fake_serve(app: Any, run_settings: Settings, store: Any, **options: Any) -> None:
        served.append(
            (run_settings.mode, options["allowed_updates"], options["on_redelivered"], store)
        )

    monkeypatch.setattr(app_module, "serve", fake_serve)
    loop = asyncio.new_event_loop()
    handlers = QuestionnaireHandlers(kb, MemoryStore(), session_ttl=timedelta(hours=1))
    cached = CachingStore(MemoryStore())
    parts = app_module.BotParts(object(), handlers, cached)  # type: ignore[arg-type]

    app_module._run(loop, parts, settings)

    # The processor shares the handlers' memory of the store (bot/store/cached.py).
    assert served == [("polling", ALLOWED_UPDATES, handlers.on_redelivered, cached)]
    assert loop.is_closed()
