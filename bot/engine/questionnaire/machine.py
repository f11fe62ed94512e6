"""The questionnaire state machine: start, answer, toggle, done, back -> the next Step.

Questions are asked in knowledge-base order, each only when its `ask_if` holds over the
answers so far (XLSForm's `relevant`) and some answer to it could change the level, the top
cause or the advice (routing.py). After every step the triage rules run; an `emergency` ends
the questionnaire at once. As soon as no question left can raise the level, the answer is
shown as an interim `Result` (BRIEF 3); `tailor` continues to the questions that only tailor
the causes and advice. Every function is pure: it takes a session and
returns a new one with `rev` + 1, never touching the old.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from bot.engine.errors import EngineError, InvalidAnswer, SessionFinished, SessionOutdated
from bot.engine.kb.evaluation import Context, holds
from bot.engine.kb.models import Advice, ChecklistQuestion, KnowledgeBase, Option, SingleQuestion
from bot.engine.memo import IdentityTable
from bot.engine.primitives import UNKNOWN, Level
from bot.engine.questionnaire.routing import Question, can_raise_level, next_question
from bot.engine.questionnaire.scoring import (
    CauseScore,
    RuleHit,
    likely_causes,
    rank_causes,
    select_advice,
    triage,
    triage_level,
)
from bot.engine.questionnaire.session import FORMAT, Answer, Session, add_findings


@dataclass(frozen=True, slots=True)
class Ask:
    """Show a question. For a single question the last option is "Not sure" (``unknown``)."""

    question: Question
    options: tuple[Option, ...]
    ticked: tuple[str, ...]
    revision: int
    cards: tuple[Advice, ...]
    """Advice to show once, before this question (the first-aid card)."""
    can_go_back: bool


@dataclass(frozen=True, slots=True)
class Result:
    """The outcome: level, likely causes, advice, and the trace that explains them."""

    level: Level
    causes: tuple[CauseScore, ...]
    advice: tuple[Advice, ...]
    rules: tuple[RuleHit, ...]
    unsure: tuple[str, ...]
    """Red-flag findings the user answered "Not sure": named in the safety net."""
    findings: dict[str, str]
    revision: int
    cards: tuple[Advice, ...]
    interim: bool = False
    """The level is final, but questions that tailor the causes and advice remain: the person
    may stop here or press "Tailor my advice" (`tailor`)."""

    @property
    def advice_codes(self) -> tuple[str, ...]:
        return tuple(sorted({code for block in self.advice for code in block.codes}))


Step = Ask | Result


def start(kb: KnowledgeBase) -> tuple[Session, Step]:
    """Begin a new questionnaire.

    Every new questionnaire of a knowledge base begins the same way, and both the session and
    the step are frozen: they are made once per knowledge base and handed out again."""
    return _STARTS.get((kb,), None, lambda: _first(kb))


def _first(kb: KnowledgeBase) -> tuple[Session, Step]:
    session = Session(format=FORMAT, kb=kb.version)
    return session, current_step(kb, session)


_STARTS: IdentityTable[tuple[Session, Step]] = IdentityTable(limit=8)
"""The first session and step, by knowledge base."""


def start_at(kb: KnowledgeBase, question_id: str) -> tuple[Session, Step]:
    """Begin a new questionnaire at `question_id`; the questions before it count as not asked.

    Each one is recorded as "Not sure" (a checklist as cut short, nothing ticked), which every
    condition reads exactly like a question never asked; Back still reaches them.
    """
    index = kb.question_index.get(question_id)
    if index is None:
        raise EngineError(f"no question {question_id} in knowledge base {kb.version}")
    skipped = tuple(
        Answer(q=q.id, v=(), partial=True)
        if isinstance(q, ChecklistQuestion)
        else Answer(q=q.id, v=UNKNOWN)
        for q in kb.questions[:index]
    )
    session = Session(format=FORMAT, kb=kb.version, answers=skipped)
    findings = session.findings(kb)
    is_emergency = triage_level(kb, findings) is Level.EMERGENCY
    if is_emergency or next_question(kb, session, findings) is None:
        session = session.model_copy(update={"done": True})
    return session, current_step(kb, session)


def current_step(
    kb: KnowledgeBase, session: Session, *, before: dict[str, str] | None = None
) -> Step:
    """Return what to show for `session`; `before` (earlier findings) decides new cards."""
    if session.kb != kb.version:
        raise SessionOutdated(session.kb, kb.version)
    known = _known(kb, session)
    if before is None and known.step is not None:
        return known.step
    findings = _with_ticks(kb, session, known.routed[0])
    step = _step(kb, known, before=before, findings=findings)
    if not step.cards:  # what the session shows with or without `before`
        known.step = step
    return step


def is_interim(
    kb: KnowledgeBase, session: Session, findings: dict[str, str], level: Level
) -> bool:
    """Tell whether to show the interim answer: not tailoring yet, and no rule above `level`
    can still fire over the findings of the questions ahead (BRIEF 3)."""
    return (
        kb.interim_answer
        and session.tailor is None
        and not can_raise_level(kb, session, findings, level)
    )


def last_step(kb: KnowledgeBase, session: Session) -> Step:
    """Return the current step with the cards the last answer brought, to show it again.

    Earlier findings leave out the last answer and all ticks: first aid twice beats none."""
    earlier = session.model_copy(update={"answers": session.answers[:-1], "ticked": ()})
    return current_step(kb, session, before=_with_ticks(kb, earlier))


def _step(
    kb: KnowledgeBase, known: _Known, *, before: dict[str, str] | None, findings: dict[str, str]
) -> Step:
    """Return the step that shows the question `known` routes to (None: the result).

    `findings` are the session's with its ticks; the interim check, made only when nothing is
    ticked, needs only what `known` holds (`_interim`).
    """
    session, question = known.session, known.routed[2]
    cards = _new_cards(kb, before, findings) if before is not None else ()
    if question is None:  # done, or (not reached: _advance marks such sessions done) no question
        return _result(kb, session, findings, cards)
    if not session.ticked and _interim(kb, known):
        return _result(kb, session, findings, cards, interim=True)
    return Ask(
        question=question,
        options=kb.options[question.id],
        ticked=session.ticked,
        revision=session.rev,
        cards=cards,
        can_go_back=bool(session.answers or session.ticked),
    )


def answer(kb: KnowledgeBase, session: Session, option_index: int) -> tuple[Session, Step]:
    """Answer the current single question with the option at `option_index`."""
    question, found = _asking(kb, session)
    if not isinstance(question, SingleQuestion):
        raise InvalidAnswer(f"question {question.id} is a checklist: toggle items instead")
    options = kb.options[question.id]
    if not 0 <= option_index < len(options):
        raise InvalidAnswer(f"question {question.id} has no option {option_index}")
    recorded = Answer(q=question.id, v=options[option_index].value)
    return _advance(kb, session, recorded, found)


def toggle(kb: KnowledgeBase, session: Session, item_index: int) -> tuple[Session, Step]:
    """Tick or untick one checklist item; a tick that makes it an emergency ends at once."""
    question, found = _asking(kb, session)
    if not isinstance(question, ChecklistQuestion):
        raise InvalidAnswer(f"question {question.id} is not a checklist")
    if not 0 <= item_index < len(question.items):
        raise InvalidAnswer(f"question {question.id} has no item {item_index}")
    code = question.items[item_index].key
    ticked = tuple(c for c in session.ticked if c != code)
    if code not in session.ticked:
        ticked = tuple(i.key for i in question.items if i.key in {*ticked, code})
    before = _with_ticks(kb, session, found)
    updated = session.model_copy(update={"ticked": ticked, "rev": session.rev + 1})
    if triage_level(kb, _with_ticks(kb, updated, found)) is Level.EMERGENCY:
        partial = Answer(q=question.id, v=ticked, partial=True)
        updated = session.model_copy(
            update={
                "answers": (*session.answers, partial),
                "ticked": (),
                "rev": session.rev + 1,
                "done": True,
            }
        )
    else:  # ticks are not answers: the session routes as before the tick
        _remember(kb, updated, _known(kb, session).routed)
    return updated, current_step(kb, updated, before=before)


def done(kb: KnowledgeBase, session: Session) -> tuple[Session, Step]:
    """Finish the current checklist: ticked items store their values, the rest what the
    checklist declares for them (usually "no")."""
    question, found = _asking(kb, session)
    if not isinstance(question, ChecklistQuestion):
        raise InvalidAnswer(f"question {question.id} is not a checklist")
    return _advance(kb, session, Answer(q=question.id, v=session.ticked), found)


def unsure(kb: KnowledgeBase, session: Session) -> tuple[Session, Step]:
    """Finish the current checklist with "Not sure about some of these": ticked items store
    their values, every finding left unticked is `unknown` (never a "no" not given)."""
    question, found = _asking(kb, session)
    if not isinstance(question, ChecklistQuestion) or not question.unsure:
        raise InvalidAnswer(f"question {question.id} offers no 'not sure' button")
    recorded = Answer(q=question.id, v=session.ticked, partial=True)
    return _advance(kb, session, recorded, found)


def tailor(kb: KnowledgeBase, session: Session) -> tuple[Session, Step]:
    """Go on from the interim answer to the questions that tailor the causes and advice."""
    step = current_step(kb, session)
    if not (isinstance(step, Result) and step.interim):
        raise InvalidAnswer("there is no interim answer to tailor")
    updated = session.model_copy(update={"tailor": len(session.answers), "rev": session.rev + 1})
    return updated, current_step(kb, updated)


def back(kb: KnowledgeBase, session: Session) -> tuple[Session, Step]:
    """Undo the last answer (or clear the ticks of the checklist being shown)."""
    if session.kb != kb.version:
        raise SessionOutdated(session.kb, kb.version)
    if not session.answers and not session.ticked and session.tailor is None:
        raise InvalidAnswer("nothing to go back to")
    # Back always returns to the previous screen; ticks of the current checklist go with it.
    # From the first tailoring question, the previous screen is the interim answer.
    if session.tailor is not None and session.tailor == len(session.answers):
        update: dict[str, object] = {"tailor": None}
    else:
        update = {"answers": session.answers[:-1] if session.answers else ()}
    updated = session.model_copy(
        update={**update, "ticked": (), "done": False, "rev": session.rev + 1}
    )
    return updated, current_step(kb, updated)


# ----------------------------------------------------------------- internals --
def _asking(kb: KnowledgeBase, session: Session) -> tuple[Question, dict[str, str]]:
    """Return the question `session` shows (as `current_step`) and its findings, ticks aside."""
    if session.kb != kb.version:
        raise SessionOutdated(session.kb, kb.version)
    known = _known(kb, session)
    found, _, question = known.routed
    if question is None:
        raise SessionFinished("the questionnaire already has its result")
    if not session.ticked and _interim(kb, known):
        raise SessionFinished("the interim answer is shown: tailor to go on")
    return question, found


def _advance(
    kb: KnowledgeBase, session: Session, recorded: Answer, found: dict[str, str]
) -> tuple[Session, Step]:
    """Record an answer; `found` are the session's findings before it (from `_asking`)."""
    # Each of findings, triage and the next question is worked out once: this runs on every press.
    before = _with_ticks(kb, session, found)
    updated = session.model_copy(
        update={"answers": (*session.answers, recorded), "ticked": (), "rev": session.rev + 1}
    )
    findings = dict(found)
    add_findings(kb, findings, recorded)
    level = triage_level(kb, findings)
    question = None if level is Level.EMERGENCY else next_question(kb, updated, findings, level)
    if question is None:
        updated = updated.model_copy(update={"done": True})
    known = _remember(kb, updated, (findings, level, question))
    step = _step(kb, known, before=before, findings=findings)
    if not step.cards:  # what the session shows with or without `before`
        known.step = step
    return updated, step


Routed = tuple[dict[str, str], Level, Question | None]
"""A session's findings (ticks aside), their level, and the question it asks (None: done)."""


@dataclass(slots=True)
class _Known:
    """What the engine worked out for one session object (`_known`)."""

    kb: KnowledgeBase
    session: Session
    routed: Routed
    step: Step | None = None
    """`current_step` of the session (without `before`), once worked out."""
    interim: bool | None = None
    """`is_interim` of the session and its routed findings and level, once worked out: the
    press's screen asks it, and the next press's check of the question answered again."""


def _interim(kb: KnowledgeBase, known: _Known) -> bool:
    """Return `is_interim` for the session `known` holds (ticks aside), worked out once."""
    if known.interim is None:
        found, level, _ = known.routed
        known.interim = is_interim(kb, known.session, found, level)
    return known.interim


_KNOWN: OrderedDict[int, _Known] = OrderedDict()
"""What was worked out for the sessions seen lately, by the session object."""
KNOWN_SESSIONS = 1024


def _known(kb: KnowledgeBase, session: Session) -> _Known:
    """Return what the engine knows of `session`, routing it first if it is new.

    A press routes a session three times: the press's step (`_advance`), the screen it shows
    (`current_step`), and the next press's check of the question answered (`_asking`). The
    adapter hands all three the same frozen session object (its records parse a text once,
    and a record's copies share the session), so each is worked out once. Sessions and
    knowledge bases are frozen: the same pair always routes and shows the same way. Callers
    must not change the findings returned.
    """
    known = _KNOWN.get(id(session))
    if known is not None and known.session is session and known.kb is kb:
        _KNOWN.move_to_end(id(session))
        return known
    found = session.findings(kb)
    level = triage_level(kb, found)
    question = None if session.done else next_question(kb, session, found, level)
    return _remember(kb, session, (found, level, question))


def _remember(kb: KnowledgeBase, session: Session, routed: Routed) -> _Known:
    known = _KNOWN[id(session)] = _Known(kb, session, routed)
    _KNOWN.move_to_end(id(session))
    while len(_KNOWN) > KNOWN_SESSIONS:
        _KNOWN.popitem(last=False)
    return known


def _with_ticks(
    kb: KnowledgeBase, session: Session, found: dict[str, str] | None = None
) -> dict[str, str]:
    """Return the session's findings (`found`, when worked out already) with its ticks."""
    found = session.findings(kb) if found is None else found
    if not session.ticked:
        return found
    ticks: dict[str, str] = {}
    for key in session.ticked:  # in item order: the first tick of a finding counts
        finding, value = kb.tick_values[key]
        ticks.setdefault(finding, value)
    return found | ticks


def _new_cards(
    kb: KnowledgeBase, before: dict[str, str], after: dict[str, str]
) -> tuple[Advice, ...]:
    def active(findings: dict[str, str]) -> set[str]:
        context = Context(answers=findings, patterns=kb.patterns)
        return {card.id for card in kb.cards if holds(card.when, context)}

    fresh = active(after) - active(before)
    return tuple(kb.advice_block(card.advice) for card in kb.cards if card.id in fresh)


def _result(
    kb: KnowledgeBase,
    session: Session,
    findings: dict[str, str],
    cards: tuple[Advice, ...],
    *,
    interim: bool = False,
) -> Result:
    level, hits = triage(kb, findings)
    causes = likely_causes(rank_causes(kb, findings), level)
    advice = select_advice(
        kb, findings, level=level, causes=frozenset(score.cause for score in causes)
    )
    red_flags = {finding.code for finding in kb.findings if finding.red_flag}
    # An emergency names no "not sure" signs: its answer is one action, and an emergency tick
    # leaves the rest of its screen unanswered rather than doubtful.
    unsure = tuple(
        code
        for code, value in findings.items()
        if value == UNKNOWN and code in red_flags and level is not Level.EMERGENCY
    )
    return Result(
        level, causes, advice, hits, unsure, findings, session.rev, cards, interim=interim
    )
