"""CRAMPCHECK_HTTP picks the Bot API transport under the request chain: aiohttp unless told httpx.

The chain's wrappers (retries, rate limits, call counting) each keep the request
they wrap in `inner`; the transport is the innermost one. getUpdates has a transport of its own.
"""

from __future__ import annotations

import pytest
from telegram.request import BaseRequest, HTTPXRequest

from bot.config import ConfigError, Settings, load_settings
from bot.engine.kb.models import KnowledgeBase
from bot.observability.observer import Observer
from bot.store.memory import MemoryStore
from bot.telegram.api.transport import AiohttpRequest
from bot.telegram.app import AnyApplication, build_application
from tests.fakes.botapi import FakeBotApi


def transport_of(request: BaseRequest) -> BaseRequest:
    """Return the innermost request of a chain of wrappers."""
    while (inner := getattr(request, "inner", None)) is not None:
        request = inner
    return request


def transports(app: AnyApplication) -> tuple[BaseRequest, BaseRequest]:
    """Return the transports of the bot's calls and of getUpdates."""
    # Bot.request is the calls' request; PTB keeps getUpdates' in _request[0] with no accessor.
    return transport_of(app.bot.request), transport_of(app.bot._request[0])


def test_http_setting_defaults_to_aiohttp_and_reads_crampcheck_http(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.http == "aiohttp"
    monkeypatch.setenv("CRAMPCHECK_HTTP", "httpx")

    assert load_settings(_env_file=None).http == "httpx"


def test_an_unknown_transport_is_refused_naming_the_variable(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRAMPCHECK_HTTP", "requests")

    with pytest.raises(ConfigError, match="CRAMPCHECK_HTTP"):
        load_settings(_env_file=None)


def test_the_bot_built_for_real_calls_and_polls_through_aiohttp(
    settings: Settings, kb: KnowledgeBase
) -> None:
    calls, polling = transports(build_application(settings, kb, MemoryStore()))

    assert isinstance(calls, AiohttpRequest)
    assert isinstance(polling, AiohttpRequest)
    assert polling is not calls  # a long poll never holds a slot the calls need, as in PTB


def test_httpx_setting_builds_ptbs_own_transport(settings: Settings, kb: KnowledgeBase) -> None:
    httpx = settings.model_copy(update={"http": "httpx"})

    calls, polling = transports(build_application(httpx, kb, MemoryStore()))

    assert isinstance(calls, HTTPXRequest)
    assert isinstance(polling, HTTPXRequest)
    assert polling is not calls


def test_the_transport_sits_under_the_counting_of_an_observer(
    settings: Settings, kb: KnowledgeBase
) -> None:
    app = build_application(settings, kb, MemoryStore(), observer=Observer(settings, kb))

    calls, polling = transports(app)

    assert isinstance(calls, AiohttpRequest)
    assert isinstance(polling, AiohttpRequest)


def test_an_injected_request_serves_both_calls_and_polling(
    settings: Settings, kb: KnowledgeBase, api: FakeBotApi
) -> None:
    app = build_application(settings, kb, MemoryStore(), request=api)

    assert transports(app) == (api, api)
