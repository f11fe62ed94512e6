"""CRAMPCHECK_LOG_FORMAT=json: one JSON object a line, with ids and codes, never text or token."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from bot.config import Settings
from bot.engine.kb.models import KnowledgeBase
from bot.observability.metrics import JsonFormatter
from bot.observability.observer import Observer
from bot.store.memory import MemoryStore
from bot.telegram.app import build_application, configure_logging
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver
from tests.observability.test_observer import FREE_TEXT, play_to_result

REAL_LOOKING_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.fixture
def json_root() -> Iterator[io.StringIO]:
    """Configure logging as `run` does with LOG_FORMAT=json, into a buffer; restore afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {name: logging.getLogger(name).level for name in ("httpx", "telegram")}
    root.handlers = []
    configure_logging("DEBUG", log_format="json")
    buffer = io.StringIO()
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(buffer)
    yield buffer
    root.handlers, root.level = saved
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_a_record_becomes_one_json_object_with_its_extras() -> None:
    record = logging.makeLogRecord(
        {"name": "bot.x", "levelname": "INFO", "msg": "saved rev %d", "args": (3,)}
    )
    record.update_id = 77
    record.duration_ms = 4.5

    entry = json.loads(JsonFormatter().format(record))

    assert entry["level"] == "INFO"
    assert entry["logger"] == "bot.x"
    assert entry["message"] == "saved rev 3"
    assert (entry["update_id"], entry["duration_ms"]) == (77, 4.5)
    assert entry["time"].endswith("+00:00")


def fail_with_token() -> None:
    raise RuntimeError(f"https://api.telegram.org/bot{REAL_LOOKING_TOKEN}/getMe failed")


def test_a_token_shaped_string_is_masked_even_in_an_exception() -> None:
    try:
        fail_with_token()
    except RuntimeError:
        record = logging.getLogger("t").makeRecord(
            "t", logging.ERROR, __file__, 1, "call failed", (), exc_info=sys.exc_info()
        )
    line = JsonFormatter().format(record)

    assert REAL_LOOKING_TOKEN not in line
    assert "/bot<token>/getMe" in line


async def test_json_logs_of_a_questionnaire_hold_no_typed_text_or_token(
    json_root: io.StringIO, settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    token = settings.model_copy(update={"token": SecretStr(REAL_LOOKING_TOKEN)})
    app = build_application(token, kb, MemoryStore(), request=api, observer=Observer(token, kb))
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        driver = ChatDriver(app, api)
        await driver.send("/start")
        await driver.send(FREE_TEXT)
        await play_to_result(driver, kb)
    assert app.post_shutdown is not None
    await app.post_shutdown(app)

    lines = json_root.getvalue().splitlines()
    entries = [json.loads(line) for line in lines]
    assert entries, "nothing was logged"
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert not [line for line in lines if "canary-7f3a" in line or REAL_LOOKING_TOKEN in line]
