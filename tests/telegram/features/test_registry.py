"""The features' registry reads a chat's other records at once (bot/telegram/features/registry.py).

/start closes any open prompt and the trip card's wait, then reads the user's language: four
records. Through the update processor (which gives each update a memory of what it read) they
cost the store one `get_many`, not four reads.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.store.base import Record, SessionKey
from bot.store.memory import MemoryStore
from bot.telegram.app import AnyApplication
from tests.fakes.botapi import FakeBotApi
from tests.fakes.updates import CHAT, SettledProcessor, message_update, parse


async def test_start_reads_the_prompts_the_card_and_the_language_in_one_go(
    app: AnyApplication, store: MemoryStore, api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api.register_chat(CHAT, first_name="Alex")
    reads: list[list[str]] = []
    get = store.get

    async def counted_get(key: SessionKey) -> Record | None:
        reads.append([key.scope])
        return await get(key)

    async def counted_get_many(keys: Sequence[SessionKey]) -> list[Record | None]:
        reads.append([key.scope for key in keys])
        return [await get(key) for key in keys]  # not through `counted_get`

    monkeypatch.setattr(store, "get", counted_get)
    monkeypatch.setattr(store, "get_many", counted_get_many)

    await SettledProcessor(app, store).process(parse(app, message_update(api, "/start")))

    # The ledger's verdict reads the questionnaire's record; the rest come in one go.
    assert reads[:2] == [["sess"], ["sweat", "ctry", "card", "pref"]]
    assert [scopes for scopes in reads if set(scopes) & {"sweat", "ctry", "card", "pref"}] == [
        ["sweat", "ctry", "card", "pref"]
    ]
