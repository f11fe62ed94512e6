"""bot/render/questionnaire.py for the issue-5 features: the doctor's summary, local numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.engine import KnowledgeBase, Level, Result, load_knowledge_base, run_case
from bot.engine.kb.loader import load_tables
from bot.engine.kb.models import ChecklistQuestion
from bot.engine.numbers.table import CountryNumbers, lookup
from bot.engine.primitives import localize
from bot.engine.questionnaire import machine
from bot.engine.questionnaire.machine import Ask
from bot.render.questionnaire import (
    country_text,
    has_more,
    key_answers,
    location_text,
    more_text,
    question_text,
    result_text,
    shows_local_number,
    summary_text,
)

WHEN = datetime(2026, 11, 25, 15, 3, tzinfo=timezone(timedelta(hours=1)))  # 14:03 UTC
NO_RED_FLAGS = {
    "cramp_now": "no",
    **dict.fromkeys(("chest_pain", "short_of_breath", "confusion", "fainted"), "no"),
    "cold_pale_limb": "no",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge_base()


@pytest.fixture(scope="module")
def norway() -> CountryNumbers:
    entry = lookup(load_tables().numbers, "NO")
    assert entry is not None
    return entry


def result_of(kb: KnowledgeBase, facts: dict[str, str]) -> Result:
    return run_case(kb, facts).result


def unsure_racer(kb: KnowledgeBase) -> Result:
    """A racer who pressed "Not sure about some of these" on the first screen, then Done."""
    session, step = machine.unsure(kb, machine.start(kb)[0])
    while isinstance(step, Ask):
        session, step = machine.done(kb, session)
    session, step = machine.tailor(kb, session)
    assert isinstance(step, Ask)
    session, step = machine.answer(kb, session, 1)  # racing or a match
    while isinstance(step, Ask):
        session, step = machine.done(kb, session)
    return step


def test_summary_of_an_emergency_gives_utc_time_the_answer_that_mattered_and_level(
    kb: KnowledgeBase,
) -> None:
    result = result_of(kb, {"cramp_now": "yes", "chest_pain": "yes"})
    text = summary_text(kb, result, "en", WHEN)
    assert text.splitlines()[:3] == [
        "📋 CrampCheck summary for a doctor",
        "Date and time: 2026-11-25 14:03 UTC",
        "Triage level: 🚨 EMERGENCY: call for help now",
    ]
    assert "• Chest pain or tightness: yes" in text
    assert "Now or stopped: cramp happening now" in text


def test_summary_names_red_flags_answered_not_sure_and_the_likely_causes(
    kb: KnowledgeBase,
) -> None:
    result = unsure_racer(kb)
    assert result.unsure, "this case leaves red flags unanswered"
    text = summary_text(kb, result, "en", WHEN)
    for code in result.unsure:
        label = kb.finding(code).label["en"]
        assert f"• {label[0].upper()}{label[1:]}: Not sure" in text
    assert "Likely causes:\n• Tired muscles (overuse)" in text
    assert set(key_answers(kb, result)) >= set(result.unsure)


def test_summary_in_norwegian_uses_option_labels_and_norwegian_yes(kb: KnowledgeBase) -> None:
    emergency = summary_text(kb, result_of(kb, {"chest_pain": "yes"}), "nb", WHEN)
    assert "Hastegrad: 🚨 NØDSITUASJON" in emergency
    assert "• Brystsmerter eller trykk i brystet: ja" in emergency
    race = summary_text(kb, unsure_racer(kb), "nb", WHEN)
    assert "• Hva du holdt på med: Konkurranse eller kamp" in race
    assert "Not sure" not in race
    assert "Vet ikke" in race


def test_summary_without_key_answers_or_causes_says_so(kb: KnowledgeBase) -> None:
    result = Result(Level.SELF_CARE, (), (), (), (), {}, 1, ())
    text = summary_text(kb, result, "en", WHEN)
    assert kb.text("summary_no_answers", "en") in text
    assert kb.text("summary_no_causes", "en") in text


def test_urgent_and_emergency_results_name_the_countrys_number_under_the_banner(
    kb: KnowledgeBase, norway: CountryNumbers
) -> None:
    emergency = result_of(kb, {"chest_pain": "yes"})
    assert shows_local_number(emergency)
    lines = result_text(kb, emergency, "en", local=norway).splitlines()
    assert lines[1] == "📞 Norway: medical emergency 113 (112 also works from mobiles)"
    nb = result_text(kb, emergency, "nb", local=norway).splitlines()
    assert nb[1] == "📞 Norge: medisinsk nødnummer 113 (112 virker også fra mobil)"
    assert "📞" not in result_text(kb, emergency, "en"), "no country: the generic text only"


def test_a_self_care_result_does_not_name_a_local_number(
    kb: KnowledgeBase, norway: CountryNumbers
) -> None:
    calm = result_of(kb, {**NO_RED_FLAGS, "activity_context": "race_or_match"})
    assert not shows_local_number(calm)
    assert "📞" not in result_text(kb, calm, "en", local=norway)


def test_location_text_gives_numbers_notes_and_the_position_to_read_out(
    kb: KnowledgeBase, norway: CountryNumbers
) -> None:
    text = location_text(kb, norway, coordinates="60.1234 N, 7.5678 E", language="en")
    assert text.startswith("📞 Norway: medical emergency 113")
    assert "legevakt 116 117" in text
    assert "📍 Your position, to read out to the operator: 60.1234 N, 7.5678 E" in text
    at_sea = location_text(kb, None, coordinates="66.0000 N, 2.0000 W", language="nb")
    assert "66.0000 N, 2.0000 W" in at_sea
    assert kb.text("country_unknown", "nb") in at_sea
    assert country_text(kb, norway, "nb").startswith("📞 Norge: medisinsk nødnummer 113")


def test_summary_time_is_converted_to_utc_across_the_new_year(kb: KnowledgeBase) -> None:
    result = result_of(kb, {"chest_pain": "yes"})
    late = datetime(2026, 12, 31, 23, 30, tzinfo=UTC) + timedelta(hours=1)
    assert "Date and time: 2027-01-01 00:30 UTC" in summary_text(kb, result, "en", late)


# --- issue 13: the result screen ------------------------------------------------------------
HOT_HIKER = {
    "activity_context": "hiking",
    "hot_conditions": "yes",
    "heavy_sweating": "yes",
    "salty_sweat": "yes",
    "exercise_duration": "over_4h",
    "muscle_location": "calf",
}


def test_a_result_leads_with_two_or_three_short_action_lines_and_the_safety_net(
    kb: KnowledgeBase,
) -> None:
    text = result_text(kb, result_of(kb, HOT_HIKER), "en")
    lines = text.split("What to do now:\n", 1)[1].split("\n\n", 1)[0].splitlines()

    assert 2 <= len(lines) <= 3
    assert lines[0].startswith("• Stop and stretch")
    assert any("salty snack" in line for line in lines)
    assert any("do not force more water" in line for line in lines)
    assert "🛟" in text
    assert "Likely causes" not in text, "causes and the full advice are behind More"


def test_more_gives_the_causes_and_the_full_advice(kb: KnowledgeBase) -> None:
    result = result_of(kb, HOT_HIKER)
    text = more_text(kb, result, "en")

    assert has_more(result)
    assert text.startswith("Likely causes:\n• Salt loss (electrolytes): ")
    assert "paracetamol or ibuprofen" in text


def test_an_emergency_gives_the_one_line_reason_and_no_safety_net(kb: KnowledgeBase) -> None:
    result = result_of(kb, {"chest_pain": "yes"})
    text = result_text(kb, result, "en")

    assert text.splitlines()[2] == localize(kb.rules[0].reason, "en")
    assert "Get help today" not in text
    assert "🛟" not in text
    assert not has_more(result)


def test_the_summary_lists_the_facts_a_doctor_asks_for(kb: KnowledgeBase) -> None:
    facts = {**HOT_HIKER, "cramp_now": "yes", "cramp_linked_medication": "statin"}
    text = summary_text(kb, result_of(kb, facts), "en", WHEN)

    assert "Now or stopped: cramp happening now" in text
    assert "Heat and sweat: hot or humid conditions: yes" in text
    assert "Medicines and conditions: regular medicines: Statin (cholesterol)" in text
    assert "No red flags reported (checked): chest pain or tightness; " in text


@pytest.mark.parametrize("language", ["en", "nb"])
def test_a_ticked_item_is_marked_in_the_question_text_as_on_its_button(
    kb: KnowledgeBase, language: str
) -> None:
    """Every item, one value of a multi-valued finding included: ☑ on its own line only."""
    checklists = [q for q in kb.questions if isinstance(q, ChecklistQuestion)]
    assert any(item.key != item.finding for q in checklists for item in q.items)
    for question in checklists:
        for ticked in question.items:
            step = Ask(question, kb.options[question.id], (ticked.key,), 1, (), True)
            lines = question_text(kb, step, language).splitlines()
            for item in question.items:
                label = localize(item.label, language)
                mark = "☑" if item is ticked else "☐"
                assert any(line.startswith(f"{mark} {label}:") for line in lines), (
                    question.id,
                    item.key,
                )


def test_question_text_follows_its_knowledge_base_and_ticks(kb: KnowledgeBase) -> None:
    """Made once per question, ticks and language: another knowledge base (a reload with a new
    hint) or another tick gets its own text, the same screen again the same."""
    question = next(q for q in kb.questions if isinstance(q, ChecklistQuestion))
    options, first = kb.options[question.id], question.items[0]
    texts = {**kb.texts, "checklist_hint": {"en": "Tick what fits.", "nb": "Kryss av."}}
    reloaded = kb.model_copy(update={"texts": texts})
    plain = Ask(question, options, (), 1, (), True)
    ticked = Ask(question, options, (first.key,), 2, (), True)
    assert question_text(kb, plain, "en") == question_text(kb, plain, "en")
    assert question_text(reloaded, plain, "en").endswith("\nTick what fits.")
    assert not question_text(kb, plain, "en").endswith("\nTick what fits.")
    assert f"☑ {localize(first.label, 'en')}:" in question_text(kb, ticked, "en")
    assert f"☐ {localize(first.label, 'en')}:" in question_text(kb, plain, "en")
