"""The /sweat conversation as pure steps: order, refusals, the heart/kidney stop, the plan."""

from __future__ import annotations

import pytest

from bot.engine.kb.loader import load_sweat_config
from bot.engine.sweat.config import SweatConfig
from bot.engine.sweat.flow import (
    SweatAsk,
    SweatDone,
    SweatDraft,
    SweatReply,
    answer_choice,
    answer_text,
    begin,
    next_step,
    parse_choice,
)
from bot.render.sweat import done_text, question_text
from tests.shared import REPO

SWEAT_YAML = REPO / "knowledge" / "sweat.yaml"


@pytest.fixture(scope="module")
def config() -> SweatConfig:
    return load_sweat_config(SWEAT_YAML)


def asked(reply: SweatReply) -> str:
    assert isinstance(reply.step, SweatAsk), reply.step
    return reply.step.question.field


def play(config: SweatConfig, answers: list[str]) -> SweatReply:
    reply = begin(config)
    for text in answers:
        assert reply.error is None, reply.error
        reply = answer_text(config, reply.draft, text)
    return reply


def test_the_heart_and_kidney_question_comes_first_with_yes_and_no(
    config: SweatConfig,
) -> None:
    reply = begin(config)
    assert asked(reply) == "fluid_restricted"
    assert isinstance(reply.step, SweatAsk)
    assert reply.step.choices == ("yes", "no")
    assert (reply.step.number, reply.step.total) == (1, 7)


def test_yes_to_heart_or_kidney_ends_with_the_contraindication_and_no_numbers(
    config: SweatConfig,
) -> None:
    reply = answer_choice(config, begin(config).draft, "yes")
    assert reply.step == SweatDone(None)
    for language in ("en", "nb"):
        text = done_text(config, reply.step, language)
        assert text.startswith(config.text("contraindication", language))
        assert not any(char.isdigit() for char in text)


def test_hand_checked_plan_from_typed_numbers_with_comma_and_point(
    config: SweatConfig,
) -> None:
    # 70.0 -> 68.6 kg, 1.0 L drunk, 2 h: loss 2.4 L, rate 1.2 L/h, plan min(0.96, 0.8) = 0.8 L/h.
    reply = play(config, ["no", "70", "68,6", "1.0", "2", "skip", "no"])
    assert isinstance(reply.step, SweatDone)
    plan = reply.step.plan
    assert plan is not None
    assert plan.sweat_rate_l_per_h == pytest.approx(1.2)
    assert plan.planned_l_per_h == pytest.approx(0.8)
    text = done_text(config, reply.step, "en")
    assert "1.2 L per hour" in text
    assert "0.8 L per hour" in text
    assert "200 mL every 15 minutes" in text
    assert "1,2 liter i timen" in done_text(config, reply.step, "nb")


def test_a_word_instead_of_a_number_is_refused_and_the_question_stays(
    config: SweatConfig,
) -> None:
    before = play(config, ["no"])
    reply = answer_text(config, before.draft, "seventy")
    assert reply.error is not None
    assert reply.error.code == "not_a_number"
    assert reply.draft == before.draft
    assert asked(reply) == "weight_before_kg"


def test_a_number_out_of_range_is_refused_at_once(config: SweatConfig) -> None:
    reply = answer_text(config, play(config, ["no"]).draft, "7")
    assert reply.error is not None
    assert reply.error.code == "weight_range"
    assert asked(reply) == "weight_before_kg"


def test_a_session_of_hours_is_checked_against_the_limit_in_minutes(
    config: SweatConfig,
) -> None:
    draft = play(config, ["no", "70", "69", "0.5"]).draft
    assert answer_text(config, draft, "0.01").error is not None  # under a minute
    assert answer_text(config, draft, "1.5").error is None


def test_an_implausible_weigh_in_asks_the_numbers_again_but_keeps_yes_no_answers(
    config: SweatConfig,
) -> None:
    reply = play(config, ["no", "70", "60", "0", "1", "0", "yes"])  # 14 % lost: refused
    assert reply.error is not None
    assert reply.error.key == "error_implausible_loss"
    assert reply.is_restarted
    assert asked(reply) == "weight_before_kg"
    assert reply.draft.numbers == {}
    assert reply.draft.flags == {"fluid_restricted": False, "salty_sweater": True}


def test_no_or_skip_to_the_urine_question_counts_as_none(config: SweatConfig) -> None:
    for typed in ("no", "Hopp over", "skip"):
        reply = play(config, ["no", "70", "69", "1", "1", typed])
        assert reply.draft.numbers["urine_l"] == 0.0
        assert asked(reply) == "salty_sweater"


def test_yes_no_questions_take_yes_or_no_in_either_language_only(
    config: SweatConfig,
) -> None:
    draft = begin(config).draft
    assert answer_text(config, draft, "maybe").error is not None
    assert answer_text(config, draft, "skip").error is not None
    assert parse_choice(config, " JA ") == "yes"
    assert parse_choice(config, "nei") == "no"
    assert parse_choice(config, "y") == "yes"
    assert answer_choice(config, play(config, ["no"]).draft, "yes").error is not None


def test_draft_round_trips_through_json_and_counts_its_steps(config: SweatConfig) -> None:
    draft = play(config, ["no", "70,5"]).draft
    assert draft.step == 2
    assert SweatDraft.model_validate_json(draft.model_dump_json()) == draft
    step = next_step(config, draft)
    assert isinstance(step, SweatAsk)
    assert step.step == 2
    assert question_text(config, step, "nb").startswith("(3/7) Hva veide du rett etter")
