"""The questionnaire state machine: start, answer, toggle, done, back, and their errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bot.engine.errors import InvalidAnswer, SessionFinished, SessionOutdated
from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import UNKNOWN, Level
from bot.engine.questionnaire.machine import (
    Ask,
    Result,
    answer,
    back,
    current_step,
    done,
    start,
    toggle,
)
from bot.engine.questionnaire.session import FORMAT, Session
from tests.engine.helpers import (
    ENGINE_KB,
    LEVELS_AND_TEXTS,
    asking,
    item,
    load_kb,
    option,
    walk,
)


def _at_flags(kb: KnowledgeBase) -> tuple[Session, Ask | Result]:
    session, step = start(kb)
    session, step = answer(kb, session, option(step, "no"))
    assert isinstance(step, Ask)
    assert asking(step) == "flags"
    return session, step


# ----------------------------------------------------------------- start, ask_if --
def test_start_is_made_once_per_knowledge_base(kb: KnowledgeBase) -> None:
    """The same frozen first session and step again, equal to one worked out afresh; another
    knowledge base (a new version) gets its own."""
    session, step = start(kb)
    assert start(kb) == (session, step)
    assert start(kb)[0] is session
    fresh = Session(format=FORMAT, kb=kb.version)
    assert session == fresh
    assert step == current_step(kb, fresh)
    newer = kb.model_copy(update={"version": f"{kb.version}-next"})
    assert start(newer)[0].kb == newer.version


def test_start_returns_the_first_question_with_not_sure_last(kb: KnowledgeBase) -> None:
    session, step = start(kb)

    assert isinstance(step, Ask)
    assert asking(step) == "now"
    assert [opt.value for opt in step.options] == ["yes", "no", UNKNOWN]
    assert step.options[-1].label == {"en": "Not sure"}
    assert (session.rev, step.revision, session.answers, step.cards) == (0, 0, (), ())
    assert step.can_go_back is False
    assert session.kb == kb.version
    assert session.format == FORMAT


def test_ask_if_skips_a_question_whose_condition_does_not_hold(kb: KnowledgeBase) -> None:
    questions = walk(kb, {"duration": "short"}).questions

    assert "stretch" not in questions
    assert questions[questions.index("duration") + 1] == "frequency"


def test_ask_if_asks_a_question_whose_condition_holds(kb: KnowledgeBase) -> None:
    questions = walk(kb, {"duration": "long"}).questions

    assert questions[questions.index("duration") + 1] == "stretch"


def test_questions_are_asked_in_knowledge_base_order(kb: KnowledgeBase) -> None:
    questions = walk(kb, {}).questions

    assert questions == ("now", "flags", "pain", "duration", "frequency", "remote")


# ----------------------------------------------------------------------- answer --
def test_answer_records_the_finding_and_moves_on(kb: KnowledgeBase) -> None:
    session, step = start(kb)

    session, step = answer(kb, session, option(step, "no"))

    assert session.findings(kb) == {"now": "no"}
    assert [(a.q, a.v) for a in session.answers] == [("now", "no")]
    assert asking(step) == "flags"
    assert isinstance(step, Ask)
    assert step.can_go_back is True


def test_not_sure_records_unknown(kb: KnowledgeBase) -> None:
    session, step = start(kb)
    assert isinstance(step, Ask)

    session, _ = answer(kb, session, len(step.options) - 1)

    assert session.findings(kb) == {"now": UNKNOWN}


def test_an_answer_that_makes_an_emergency_ends_at_once(kb: KnowledgeBase) -> None:
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "calf"))
    session, step = done(kb, session)
    assert asking(step) == "pain"

    session, step = answer(kb, session, option(step, "severe"))

    assert isinstance(step, Result)
    assert step.level is Level.EMERGENCY
    assert session.done is True
    assert {hit.rule.id for hit in step.rules} >= {"clot_with_pain"}
    assert "duration" not in session.findings(kb)


def test_the_last_answer_gives_a_result(kb: KnowledgeBase) -> None:
    result = walk(kb, {"remote": "yes"}).result

    assert result.level is Level.SELF_CARE
    assert result.findings["remote"] == "yes"


@pytest.mark.parametrize("index", [-1, 3, 99])
def test_an_option_index_out_of_range_raises_invalid_answer(kb: KnowledgeBase, index: int) -> None:
    session, _ = start(kb)

    with pytest.raises(InvalidAnswer, match="now"):
        answer(kb, session, index)


def test_answering_a_checklist_with_an_option_raises_invalid_answer(kb: KnowledgeBase) -> None:
    session, _ = _at_flags(kb)

    with pytest.raises(InvalidAnswer, match="flags"):
        answer(kb, session, 0)


@pytest.mark.parametrize(
    "action",
    [
        pytest.param(lambda kb, session: toggle(kb, session, 0), id="toggle"),
        pytest.param(done, id="done"),
    ],
)
def test_checklist_actions_on_a_single_question_raise_invalid_answer(
    kb: KnowledgeBase, action: Callable[[KnowledgeBase, Session], object]
) -> None:
    session, _ = start(kb)

    with pytest.raises(InvalidAnswer, match="now"):
        action(kb, session)


# -------------------------------------------------------------- toggle and done --
def test_toggle_ticks_and_a_second_toggle_unticks(kb: KnowledgeBase) -> None:
    session, step = _at_flags(kb)

    session, step = toggle(kb, session, item(step, "dizzy"))
    assert isinstance(step, Ask)
    assert (session.ticked, step.ticked, asking(step)) == (("dizzy",), ("dizzy",), "flags")

    session, step = toggle(kb, session, item(step, "dizzy"))
    assert isinstance(step, Ask)
    assert (session.ticked, step.ticked) == ((), ())
    assert session.findings(kb) == {"now": "no"}


def test_ticks_keep_checklist_order(kb: KnowledgeBase) -> None:
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "dizzy"))
    session, step = toggle(kb, session, item(step, "calf"))

    assert session.ticked == ("calf", "dizzy")


def test_done_records_ticked_as_yes_and_unticked_as_no(kb: KnowledgeBase) -> None:
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "dizzy"))

    session, step = done(kb, session)

    assert session.answers[-1].q == "flags"
    assert session.answers[-1].v == ("dizzy",)
    assert {code: session.findings(kb)[code] for code in ("chest_pain", "calf", "dizzy")} == {
        "chest_pain": "no",
        "calf": "no",
        "dizzy": "yes",
    }
    assert session.ticked == ()
    assert asking(step) == "pain"


def test_done_with_nothing_ticked_records_every_item_as_no(kb: KnowledgeBase) -> None:
    session, _ = _at_flags(kb)

    session, _ = done(kb, session)

    assert session.answers[-1].v == ()
    assert {session.findings(kb)[code] for code in ("chest_pain", "calf", "dizzy")} == {"no"}


def test_a_tick_that_makes_an_emergency_ends_at_once(kb: KnowledgeBase) -> None:
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "dizzy"))

    session, step = toggle(kb, session, item(step, "chest_pain"))

    assert isinstance(step, Result)
    assert step.level is Level.EMERGENCY
    assert session.done is True
    assert session.ticked == ()
    assert session.answers[-1].q == "flags"
    assert session.answers[-1].v == ("chest_pain", "dizzy")
    assert session.answers[-1].partial is True
    findings = session.findings(kb)
    assert (findings["chest_pain"], findings["dizzy"]) == ("yes", "yes")
    assert findings["calf"] == UNKNOWN, "an unticked item of a cut-short checklist is not 'no'"


def test_a_tick_below_emergency_keeps_the_checklist_open(kb: KnowledgeBase) -> None:
    session, step = _at_flags(kb)

    session, step = toggle(kb, session, item(step, "calf"))

    assert asking(step) == "flags"
    assert session.done is False
    assert session.answers[-1].q == "now"


@pytest.mark.parametrize("index", [-1, 3])
def test_an_item_index_out_of_range_raises_invalid_answer(kb: KnowledgeBase, index: int) -> None:
    session, _ = _at_flags(kb)

    with pytest.raises(InvalidAnswer, match="flags"):
        toggle(kb, session, index)


# ------------------------------------------------------------------------- back --
def test_back_undoes_the_last_answer(kb: KnowledgeBase) -> None:
    session, step = _at_flags(kb)
    session, step = done(kb, session)
    assert asking(step) == "pain"

    session, step = back(kb, session)

    assert asking(step) == "flags"
    assert session.findings(kb) == {"now": "no"}


def test_back_from_a_result_returns_to_the_last_question(kb: KnowledgeBase) -> None:
    final_session, result = walk(kb, {}).steps[-1]
    assert isinstance(result, Result)

    session, step = back(kb, final_session)

    assert asking(step) == "remote"
    assert session.done is False
    assert "remote" not in session.findings(kb)


def test_back_from_an_emergency_tick_returns_to_the_checklist_without_ticks(
    kb: KnowledgeBase,
) -> None:
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "chest_pain"))
    assert isinstance(step, Result)

    session, step = back(kb, session)

    assert asking(step) == "flags"
    assert isinstance(step, Ask)
    assert (session.ticked, step.ticked) == ((), ())
    assert session.findings(kb) == {"now": "no"}


def test_back_on_a_checklist_with_ticks_drops_them_and_returns_to_the_previous_question(
    kb: KnowledgeBase,
) -> None:
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "dizzy"))

    session, step = back(kb, session)

    assert asking(step) == "now"
    assert session.ticked == ()
    assert session.answers == ()


def test_back_with_nothing_to_undo_raises_invalid_answer(kb: KnowledgeBase) -> None:
    session, _ = start(kb)

    with pytest.raises(InvalidAnswer):
        back(kb, session)


def test_back_then_a_new_answer_replaces_the_old_one(kb: KnowledgeBase) -> None:
    session, step = start(kb)
    session, step = answer(kb, session, option(step, "yes"))
    session, step = back(kb, session)

    session, step = answer(kb, session, option(step, "no"))

    assert session.findings(kb) == {"now": "no"}
    assert len(session.answers) == 1


# ------------------------------------------------------------ finished, outdated --
def test_answering_a_finished_session_raises_session_finished(kb: KnowledgeBase) -> None:
    final_session, _ = walk(kb, {}).steps[-1]

    with pytest.raises(SessionFinished):
        answer(kb, final_session, 0)
    with pytest.raises(SessionFinished):
        toggle(kb, final_session, 0)
    with pytest.raises(SessionFinished):
        done(kb, final_session)


def test_current_step_of_a_finished_session_is_its_result(kb: KnowledgeBase) -> None:
    final_session, result = walk(kb, {"calf": "yes"}).steps[-1]

    assert current_step(kb, final_session) == result


def test_a_session_from_another_kb_version_raises_session_outdated(kb: KnowledgeBase) -> None:
    session = Session(format=FORMAT, kb="engine.0")

    with pytest.raises(SessionOutdated) as caught:
        current_step(kb, session)
    assert (caught.value.session_version, caught.value.kb_version) == ("engine.0", "engine.1")
    with pytest.raises(SessionOutdated):
        answer(kb, session, 0)
    with pytest.raises(SessionOutdated):
        back(kb, session)


# -------------------------------------------------------------------- revisions --
def test_revision_increments_by_one_per_step(kb: KnowledgeBase) -> None:
    session, step = start(kb)
    revisions = [session.rev]
    session, step = answer(kb, session, option(step, "yes"))
    revisions.append(session.rev)
    session, step = toggle(kb, session, item(step, "dizzy"))
    revisions.append(session.rev)
    session, step = toggle(kb, session, item(step, "dizzy"))
    revisions.append(session.rev)
    session, step = back(kb, session)
    revisions.append(session.rev)
    session, step = answer(kb, session, option(step, "no"))
    revisions.append(session.rev)
    session, step = done(kb, session)
    revisions.append(session.rev)

    assert revisions == list(range(7))
    assert step.revision == session.rev


def test_every_step_of_a_walk_has_the_revision_of_its_session(kb: KnowledgeBase) -> None:
    steps = walk(kb, {"calf": "yes", "dizzy": "yes", "duration": "long"}).steps

    assert [s.rev for s, _ in steps] == list(range(len(steps)))
    assert all(step.revision == s.rev for s, step in steps)


def test_a_step_never_changes_the_session_it_was_given(kb: KnowledgeBase) -> None:
    session, step = start(kb)
    before = session.model_dump()

    answer(kb, session, option(step, "yes"))

    assert session.model_dump() == before


# ------------------------------------------------------------------------ cards --
def test_a_card_appears_on_the_step_where_its_condition_first_holds(kb: KnowledgeBase) -> None:
    steps = walk(kb, {"now": "yes", "dizzy": "yes", "duration": "long"}).steps

    shown = [(type(step).__name__, [c.id for c in step.cards]) for _, step in steps]
    assert shown[1] == ("Ask", ["first_aid"])
    assert all(cards == [] for index, (_, cards) in enumerate(shown) if index != 1)


def test_a_card_is_not_shown_when_its_condition_never_holds(kb: KnowledgeBase) -> None:
    for facts in ({"now": "no"}, {}, {"now": UNKNOWN, "calf": "yes"}):
        assert walk(kb, facts).card_ids == []


def test_a_card_is_shown_again_after_back_and_the_same_answer(kb: KnowledgeBase) -> None:
    session, step = start(kb)
    session, step = answer(kb, session, option(step, "yes"))
    assert [c.id for c in step.cards] == ["first_aid"]
    session, step = back(kb, session)
    assert step.cards == ()

    session, step = answer(kb, session, option(step, "yes"))

    assert [c.id for c in step.cards] == ["first_aid"]


def test_the_screen_of_a_session_does_not_repeat_the_card_its_press_brought(
    kb: KnowledgeBase,
) -> None:
    """The card comes with the press that brought it; the session's own screen has none, even
    for the session object the press returned (the engine remembers what it worked out)."""
    session, step = start(kb)
    session, step = answer(kb, session, option(step, "yes"))
    assert [c.id for c in step.cards] == ["first_aid"]

    assert current_step(kb, session).cards == ()
    assert current_step(kb, session) == current_step(kb, Session.load(session.dump()))


def _card_on_calf_kb(tmp_path: Path) -> KnowledgeBase:
    kb_text = ENGINE_KB["kb.yaml"].replace(
        'when: {finding: now, in: ["yes"]}', 'when: {finding: calf, in: ["yes"]}'
    )
    return load_kb(tmp_path, {**ENGINE_KB, "kb.yaml": kb_text})


def test_a_card_on_a_checklist_item_is_not_repeated_by_a_later_tick(tmp_path: Path) -> None:
    """Engine bug: toggle() compares against findings without the earlier ticks."""
    kb = _card_on_calf_kb(tmp_path)
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "calf"))
    assert [c.id for c in step.cards] == ["first_aid"]

    session, step = toggle(kb, session, item(step, "dizzy"))

    assert [c.id for c in step.cards] == []


def test_a_card_on_a_checklist_item_is_not_repeated_by_done(tmp_path: Path) -> None:
    """Engine bug: done() compares against findings without the ticks it turns into answers."""
    kb = _card_on_calf_kb(tmp_path)
    session, step = _at_flags(kb)
    session, step = toggle(kb, session, item(step, "calf"))
    assert [c.id for c in step.cards] == ["first_aid"]

    session, step = done(kb, session)

    assert asking(step) == "pain"
    assert [c.id for c in step.cards] == []


# ------------------------------------------------------------ skip_if_settled --
def _settle_kb(tmp_path: Path, *, order: str, skip: bool = True) -> KnowledgeBase:
    """Findings a, b, c; `b` is asked by `qb` (skip_if_settled unless `skip` is False).

    Rules: a=yes -> urgent; b=yes -> doctor; b=yes and c=yes -> emergency.
    """
    single = """
        - id: q{name}
          kind: single
          finding: {name}
          text: {{en: "{name}?"}}
          skip_if_settled: {skip}
          options:
            - {{value: "yes", label: {{en: "Yes"}}}}
            - {{value: "no", label: {{en: "No"}}}}
        """
    questions = "".join(
        single.format(name=name, skip=str(skip and name == "b").lower()) for name in order
    )

    def rule(rule_id: str, level: str, when: str) -> str:
        label = "" if level == "doctor" else ", trip_card: {en: x}"  # on the trip card
        fields = f"id: {rule_id}, level: {level}, when: {when}, reason: {{en: x}}, source: t"
        return f"- {{{fields}{label}}}\n"

    both = '{all: [{finding: b, in: ["yes"]}, {finding: c, in: ["yes"]}]}'
    files = {
        "kb.yaml": 'version: "settle.1"\nlanguages: [en]\nquestion_files: [all]\n'
        + LEVELS_AND_TEXTS,
        "findings.yaml": "".join(
            f'- {{code: {n}, values: ["yes", "no"], label: {{en: "{n}"}}}}\n' for n in "abc"
        ),
        "questions/all.yaml": questions,
        "rules.yaml": rule("a", "urgent", '{finding: a, in: ["yes"]}')
        + rule("b", "doctor", '{finding: b, in: ["yes"]}')
        + rule("b_and_c", "emergency", both),
        "causes.yaml": "[]",
        "advice.yaml": "- {id: all_levels, section: action, codes: [rest], text: {en: x},"
        " trip_card: {en: x}}",
        "advice_codes.yaml": "- {code: rest}",
    }
    return load_kb(tmp_path, files)


@pytest.mark.parametrize(
    ("facts", "is_asked"),
    [
        pytest.param({"a": "no", "c": "no"}, True, id="below-doctor-b-can-still-raise"),
        pytest.param({"a": "yes", "c": "yes"}, True, id="urgent-b-and-c-could-make-emergency"),
        pytest.param({"a": "yes", "c": "no"}, False, id="urgent-c-no-settles-it"),
        pytest.param({"a": "yes", "c": UNKNOWN}, False, id="urgent-c-unknown-fires-nothing"),
    ],
)
def test_skip_if_settled_skips_a_question_only_when_it_cannot_raise_the_level(
    tmp_path: Path, facts: dict[str, str], *, is_asked: bool
) -> None:
    kb = _settle_kb(tmp_path, order="acb")

    assert ("qb" in walk(kb, facts).questions) is is_asked


def test_skip_if_settled_keeps_a_question_whose_rule_reads_a_finding_still_to_be_asked(
    tmp_path: Path,
) -> None:
    """With c asked after b, `b and c` is undecided (None), so b may still matter."""
    kb = _settle_kb(tmp_path, order="abc")

    assert walk(kb, {"a": "yes"}).questions == ("qa", "qb", "qc")


def test_without_skip_if_settled_a_settled_question_is_still_asked(tmp_path: Path) -> None:
    kb = _settle_kb(tmp_path, order="acb", skip=False)

    assert "qb" in walk(kb, {"a": "yes", "c": "no"}).questions


def test_skip_if_settled_skips_frequency_once_the_level_is_urgent(kb: KnowledgeBase) -> None:
    assert "frequency" in walk(kb, {"pain": "mild"}).questions
    assert "frequency" not in walk(kb, {"pain": "severe"}).questions
