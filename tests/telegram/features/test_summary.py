"""The Summary button under a result, and its "In English" twin."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.engine.kb.models import KnowledgeBase
from bot.telegram.ui.callbacks import (
    MAX_BYTES,
    MAX_NUMBER,
    SummaryRequest,
    decode_country,
    decode_summary,
    decode_sweat,
    encode_country,
    encode_summary,
    encode_sweat,
)
from tests.fakes.botapi import FakeBotApi
from tests.fakes.driver import ChatDriver

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")


async def emergency(driver: ChatDriver, *, language: str = "en") -> None:
    await driver.send("/start")
    await driver.press("☐ Cramp right now" if language == "en" else "☐ Krampe akkurat nå")
    await driver.press("☐ Chest pain" if language == "en" else "☐ Brystsmerter")


async def test_summary_button_sends_a_forwardable_summary_of_the_result(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await emergency(driver)
    assert "📋 Summary" in driver.current_buttons()
    result_date = driver.bot_messages()[-1].date

    await driver.press("📋 Summary")

    text = driver.last_text()
    assert text.startswith("📋 CrampCheck summary for a doctor")
    expected = datetime.fromtimestamp(result_date, UTC).strftime("%Y-%m-%d %H:%M UTC")
    assert f"Date and time: {expected}" in text, "dated by the result message"
    assert "Triage level: 🚨 EMERGENCY" in text
    assert "• Chest pain or tightness: yes" in text
    assert api.calls_to("sendMessage")[-1].params.get("reply_markup") is None, "English: no twin"
    assert driver.unanswered_callbacks() == []


async def test_norwegian_summary_comes_with_an_in_english_button_with_the_same_time(
    app: Any, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    driver = ChatDriver(app, api, language_code="nb")
    await emergency(driver, language="nb")
    await driver.press("📋 Sammendrag")
    norwegian = driver.last_text()
    assert norwegian.startswith("📋 Sammendrag fra CrampCheck til lege")
    assert "• Brystsmerter eller trykk i brystet: ja" in norwegian
    assert driver.current_buttons() == ["På engelsk"]

    await driver.press("På engelsk")

    english = driver.last_text()
    assert english.startswith("📋 CrampCheck summary for a doctor")
    assert "• Chest pain or tightness: yes" in english
    first, second = STAMP.search(norwegian), STAMP.search(english)
    assert first is not None
    assert second is not None
    assert first.group(0) == second.group(0)
    assert driver.unanswered_callbacks() == []


async def test_summary_of_an_old_result_only_gets_moved_on(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await emergency(driver)
    await driver.press("↺ Restart")
    sent = len(api.calls_to("sendMessage"))

    await driver.press_data("s:2")
    await driver.press_data("s:forged")

    assert api.last("answerCallbackQuery").params["text"] == kb.text("moved_on", "en")
    assert len(api.calls_to("sendMessage")) == sent
    assert driver.unanswered_callbacks() == []


async def test_summary_after_cancel_says_there_is_no_questionnaire(
    driver: ChatDriver, api: FakeBotApi, kb: KnowledgeBase
) -> None:
    await emergency(driver)
    await driver.send("/cancel")
    await driver.press_data("s:2")
    assert api.last("answerCallbackQuery").params["text"] == kb.text("no_session", "en")


def test_feature_button_data_round_trips_and_stays_within_64_bytes() -> None:
    longest = SummaryRequest(MAX_NUMBER - 1, "en", MAX_NUMBER - 1)
    for request in (SummaryRequest(3), SummaryRequest(3, "nb", 1_780_000_000), longest):
        data = encode_summary(request)
        assert len(data.encode()) <= MAX_BYTES
        assert decode_summary(data) == request
    assert decode_country(encode_country("NO")) == "NO"
    assert decode_sweat(encode_sweat(4, "skip")) == (4, "skip")


@pytest.mark.parametrize(
    "forged", ["s:", "s:01", "s:1:EN:5", "s:1:en", "g:no", "g:NOR", "p:1:x", "p:-1:y", None]
)
def test_forged_feature_button_data_is_refused(forged: object) -> None:
    decoders = (decode_summary, decode_country, decode_sweat)
    for decode in decoders:
        with pytest.raises(ValueError, match="malformed"):
            decode(forged)
    with pytest.raises(ValueError, match="not valid"):
        encode_summary(SummaryRequest(1, "en", None))
