"""The advice fixes of the issue-13 review, one test each, over the real knowledge base.

Findings go straight to the scoring (no questionnaire), so the tests hold whatever order
the questions come in.
"""

from __future__ import annotations

import pytest

from bot.engine.primitives import Level, localize
from bot.engine.questionnaire.freetext import mentions_emergency
from bot.engine.questionnaire.scoring import likely_causes, rank_causes, select_advice, triage
from tests.engine.helpers import real_kb

KB = real_kb()
WATER_WORDS = ("sip water", "your water", "sports drink", "rehydration")


def advice(findings: dict[str, str]) -> dict[str, str]:
    """Advice id -> English text shown for `findings`."""
    level, _ = triage(KB, findings)
    causes = frozenset(c.cause for c in likely_causes(rank_causes(KB, findings), level))
    blocks = select_advice(KB, findings, level=level, causes=causes)
    return {block.id: localize(block.text, "en") for block in blocks}


HEAT_EXHAUSTION = {
    "activity_context": "hiking",
    "hot_conditions": "yes",
    "heavy_sweating": "yes",
    "body_heat": "hot_and_sweaty",
    "dizzy_or_faint_feeling": "yes",
}


@pytest.mark.parametrize(
    "pattern",
    [{"puffy_or_bloated": "yes"}, {"fluid_intake": "lots_plain_water"}],
    ids=["puffy", "lots-of-plain-water"],
)
def test_overdrinking_pattern_gets_no_water_advice_next_to_heat_care(
    pattern: dict[str, str],
) -> None:
    shown = advice({**HEAT_EXHAUSTION, "salty_sweat": "yes", **pattern})

    text = " ".join(shown.values()).lower()
    assert "heat_exhaustion_care" in shown
    assert not any(word in text for word in WATER_WORDS), shown
    assert ("urgent_overdrinking" in shown) != ("too_much_water" in shown)


def test_heart_patient_with_heat_exhaustion_still_gets_cooling_and_the_30_minute_rule() -> None:
    shown = advice({**HEAT_EXHAUSTION, "hot_conditions": "no",
                    "long_term_condition": "heart_or_circulation"})  # fmt: skip

    cooling = shown.get("urgent_heat", "") + shown.get("heat_exhaustion_care", "")
    assert "shade" in cooling
    assert "sports drink" not in " ".join(shown.values())


def test_kidney_patient_with_heat_exhaustion_gets_the_30_minute_rule() -> None:
    shown = advice({**HEAT_EXHAUSTION, "long_term_condition": "kidney"})

    assert triage(KB, {**HEAT_EXHAUSTION, "long_term_condition": "kidney"})[0] is Level.DOCTOR
    assert "30 minutes" in shown["heat_exhaustion_care"]
    assert "heat_exhaustion_drink" not in shown


def test_water_tablets_get_no_salty_snack_but_the_medicine_review() -> None:
    facts = {"salty_sweat": "yes", "exercise_duration": "over_4h"}
    shown = advice({**HEAT_EXHAUSTION, **facts, "cramp_linked_medication": "diuretic"})

    codes = {code for block in KB.advice if block.id in shown for code in block.codes}
    assert not codes & {"salty_food", "salt_loading", "electrolyte_drink"}, shown
    assert "medicine_review" in shown
    assert "water tablets" in shown["salt_caution"]


def test_possible_clot_says_do_not_rub_or_stretch_at_all() -> None:
    shown = advice({"calf_swelling_redness_warmth": "yes"})

    assert "at all" in shown["urgent_clot"]
    assert "hard" not in shown["urgent_clot"].split(":")[0]


def test_first_aid_card_names_a_tense_hard_very_painful_muscle() -> None:
    card = localize(KB.advice_block("first_aid").text, "en")

    assert "tense, hard and very painful" in card


def test_painkillers_carry_the_endurance_caveat() -> None:
    shown = advice({"activity_context": "race_or_match"})

    assert "avoid ibuprofen during a long endurance event" in shown["stretch_and_rest"]


@pytest.mark.parametrize("condition", ["kidney", "heart_or_circulation"])
def test_no_ibuprofen_is_offered_with_kidney_or_heart_disease(condition: str) -> None:
    shown = advice({"activity_context": "training", "long_term_condition": condition})

    text = " ".join(shown.values())
    assert "paracetamol" in text
    assert "ibuprofen can" not in text
    assert "or ibuprofen" not in text


@pytest.mark.parametrize(
    "message",
    [
        "I was a bit andpusten after the hill",
        "jeg er andpusten etter bakken",
        "breathless after the sprint, now calf cramp",
        "sorry for the confusion",
        "det gir ikke mening",
        "this is not making sense to me",
        "vet ikke hvor krampen sitter",
        "I don't know where it hurts most, he doesn't know where the cramp started",
    ],
)
def test_everyday_words_do_not_raise_the_emergency_card(message: str) -> None:
    assert not mentions_emergency(KB, message)


@pytest.mark.parametrize(
    "message",
    [
        "he is confused and slurring",
        "hun er forvirret",
        "klarer ikke å puste",
        "she collapsed",
        "he doesn't know where he is",
        "han vet ikke hvor han er",
        "chest pain",
    ],
)
def test_emergency_phrases_still_raise_the_card(message: str) -> None:
    assert mentions_emergency(KB, message)


def test_plain_water_without_symptoms_gets_salty_food_and_ease_off_not_more_water() -> None:
    """BRIEF 6.3 and the public case v07: salt as food, one drinking message, no 'your water'."""
    sweat = {"heavy_sweating": "yes", "salty_sweat": "yes", "hot_conditions": "yes"}
    shown = advice(
        {"activity_context": "race_or_match", "fluid_intake": "lots_plain_water", **sweat}
    )

    assert {"too_much_water", "overdrinking_salty_snack"} <= set(shown)
    assert "salty_sweater" not in shown
    assert "your water" not in " ".join(shown.values())
