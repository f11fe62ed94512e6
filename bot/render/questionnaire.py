"""Plain-text wording of every questionnaire step and of the bot's own messages.

With `sweat.py` and `numbers.py` beside it, the only place that formats messages. Shared by the
terminal chat and the Telegram adapter (which adds buttons). Wording comes from the knowledge base;
this module only arranges it. Plain text (no markup) so that no user-facing string ever needs
escaping.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine.checkins import Reply
from bot.engine.kb.models import (
    Advice,
    ChecklistQuestion,
    KnowledgeBase,
    LevelInfo,
    SingleQuestion,
)
from bot.engine.memo import IdentityTable
from bot.engine.numbers.table import CountryNumbers
from bot.engine.primitives import UNKNOWN, Level, localize
from bot.engine.questionnaire.machine import Ask, Result
from bot.engine.questionnaire.scoring import RuleHit
from bot.render.numbers import numbers_line

TELEGRAM_TEXT_LIMIT = 4096


def question_text(kb: KnowledgeBase, step: Ask, language: str) -> str:
    """Return the question, with checklist details and ticks, ready to show.

    Made once per question, ticks and language (every screen of a question shows it)."""
    return _TEXTS.get(
        (kb, step.question), (step.ticked, language), lambda: _question_text(kb, step, language)
    )


_TEXTS: IdentityTable[str] = IdentityTable(limit=4096)
"""Question texts made lately, by knowledge base, question, ticks and language."""


def _question_text(kb: KnowledgeBase, step: Ask, language: str) -> str:
    question = step.question
    lines = [localize(question.text, language)]
    if question.help:
        lines.append(localize(question.help, language))
    if isinstance(question, ChecklistQuestion):
        lines.append("")
        for item in question.items:
            mark = "☑" if item.key in step.ticked else "☐"
            detail = localize(item.detail or item.label, language)
            lines.append(f"{mark} {localize(item.label, language)}: {detail}")
        lines += ["", kb.text("checklist_hint", language)]
    return "\n".join(lines)


def card_text(cards: tuple[Advice, ...], language: str) -> str:
    return "\n\n".join(localize(card.text, language) for card in cards)


MAIN_LINES = 3
"""Short action lines at the top of a result; the rest is behind "More"."""


def result_text(
    kb: KnowledgeBase, result: Result, language: str, *, local: CountryNumbers | None = None
) -> str:
    """Return the result screen: the level, then what to do now, then the safety net.

    An emergency gives the one-line reason and its actions in full, and no safety net (the
    answer is one action). Otherwise the 2-3 most important short action lines for the case
    lead (`Advice.short`, by `rank`); causes and the full advice are behind "More"
    (`more_text`). `local` is the user's country: urgent and emergency results name its
    number under the level.
    """
    info = _level_info(kb, result.level)
    parts = [f"{info.banner} {localize(info.title, language)}"]
    if local is not None and shows_local_number(result):
        parts[0] += "\n" + local_number_line(local, language)
    if result.level is Level.EMERGENCY:
        parts += [localize(hit.rule.reason, language) for hit in _top_rules(kb, result)[:1]]
        parts += [localize(b.text, language) for b in result.advice if b.section == "action"]
        return _fit("\n\n".join(parts))
    lines = [f"• {localize(block.short or block.text, language)}" for block in main_advice(result)]
    if lines:
        parts.append("\n".join([kb.text("do_now", language) + ":", *lines]))
    safety = [b for b in result.advice if b.section == "safety"]
    parts.append(_safety_net(kb, result, safety, language))
    return _fit("\n\n".join(parts))


def main_advice(result: Result) -> list[Advice]:
    """Return the advice blocks whose short lines lead the result, most important first."""
    short = [block for block in result.advice if block.short is not None]
    return sorted(short, key=lambda block: block.rank)[:MAIN_LINES]


def has_more(result: Result) -> bool:
    """Tell whether `more_text` adds anything to the result screen (never for an emergency)."""
    return result.level is not Level.EMERGENCY and bool(result.causes or result.advice)


def more_text(kb: KnowledgeBase, result: Result, language: str) -> str:
    """Return the rest of a result: the likely causes, then every piece of advice in full."""
    parts = []
    if result.causes:
        names = {cause.id: cause for cause in kb.causes}
        lines = [kb.text("likely_causes", language) + ":"]
        lines += [
            f"• {localize(names[c.cause].name, language)}: "
            f"{localize(names[c.cause].summary, language)}"
            for c in result.causes
        ]
        parts.append("\n".join(lines))
    blocks = [b for b in result.advice if b.section in ("action", "care", "prevention")]
    if blocks:
        lines = [kb.text("what_to_do", language) + ":"]
        lines += [f"• {localize(block.text, language)}" for block in blocks]
        parts.append("\n".join(lines))
    return _fit("\n\n".join(parts) or kb.text("no_cause_signals", language))


def _top_rules(kb: KnowledgeBase, result: Result) -> list[RuleHit]:
    """Return the rules that fired, most urgent first (file order within a level)."""
    return sorted(result.rules, key=lambda hit: -kb.rule_level[hit.rule.id])


def _level_info(kb: KnowledgeBase, level: Level) -> LevelInfo:
    return next(info for code, info in kb.levels.items() if code == level.code)


def _safety_net(kb: KnowledgeBase, result: Result, blocks: list[Advice], language: str) -> str:
    lines = [f"🛟 {kb.text('safety_net', language)}:"]
    lines += [localize(block.text, language) for block in blocks]
    if result.unsure:
        labels = ", ".join(localize(kb.finding(code).label, language) for code in result.unsure)
        lines.append(
            f"{kb.text('unsure_intro', language)}: {labels}. {kb.text('unsure_advice', language)}"
        )
    return "\n".join(lines)


def why_text(kb: KnowledgeBase, result: Result, language: str) -> str:
    """Return the trace: which answers set the level and which pointed to each cause."""
    parts = [f"{kb.text('why_level', language)}:"]
    if result.rules:
        for hit in result.rules:
            level = kb.levels[hit.rule.level]
            parts.append(
                f"{level.banner} {localize(hit.rule.reason, language)} "
                f"({_evidence(kb, hit.evidence, language)}; {hit.rule.source})"
            )
    else:
        parts.append(kb.text("no_red_flags", language))
    parts += ["", f"{kb.text('why_causes', language)}:"]
    names = {cause.id: cause for cause in kb.causes}
    scored = [score for score in result.causes if score.signals]
    for score in scored:
        reasons = ", ".join(
            localize(signal.reason, language) for signal, _ in score.signals if signal.weight > 0
        )
        parts.append(f"• {localize(names[score.cause].name, language)}: {reasons or '-'}")
    if not scored:
        parts.append(kb.text("no_cause_signals", language))
    return _fit("\n".join(parts))


def _evidence(kb: KnowledgeBase, evidence: dict[str, str], language: str) -> str:
    return ", ".join(
        f"{localize(kb.finding(code).label, language)}: {value.replace('_', ' ')}"
        for code, value in evidence.items()
    )


def _fit(text: str) -> str:
    """Keep within one Telegram message; the knowledge base is written to stay far below."""
    if len(text) <= TELEGRAM_TEXT_LIMIT:
        return text
    return text[: TELEGRAM_TEXT_LIMIT - 1] + "…"


def welcome_text(kb: KnowledgeBase, language: str) -> str:
    """Return the greeting: two lines of welcome, then the disclaimer."""
    lines = (kb.text("welcome", language), kb.text("welcome_hint", language))
    return "\n".join(lines) + "\n\n" + kb.text("disclaimer", language)


def privacy_text(kb: KnowledgeBase, language: str, *, ttl_hours: float) -> str:
    """Return what is stored and for how long (`ttl_hours` of inactivity)."""
    return kb.text("privacy", language).format(hours=f"{ttl_hours:g}")


def about_text(kb: KnowledgeBase, language: str, *, version: str) -> str:
    """Return the bot and knowledge-base versions and the note on sources."""
    return kb.text("about", language).format(version=version, kb_version=kb.version)


def apology_text(kb: KnowledgeBase, language: str, *, has_session: bool) -> str:
    return kb.text("apology" if has_session else "apology_no_session", language)


def checkin_reply_text(kb: KnowledgeBase, reply: Reply, language: str) -> str:
    """Return the note for a check-in answer of better or the same, with the safety net."""
    note = kb.text(f"checkin_reply_{reply}", language)
    return f"{note}\n\n🛟 {kb.text('checkin_safety_net', language)}"


# --- emergency numbers by country -------------------------------------------------------------


def shows_local_number(result: Result) -> bool:
    """Tell whether a result names the local emergency number (urgent and emergency ones)."""
    return result.level >= Level.URGENT


def local_number_line(entry: CountryNumbers, language: str) -> str:
    """Return e.g. "📞 Norway: medical emergency 113 (112 also works from mobiles)"."""
    return f"📞 {numbers_line(entry, language)}"


def country_text(kb: KnowledgeBase, entry: CountryNumbers, language: str) -> str:
    """Return a chosen country's numbers, its notes, and what is remembered."""
    lines = [local_number_line(entry, language)]
    if entry.notes is not None:
        lines.append(localize(entry.notes, language))
    return "\n".join(lines) + "\n\n" + kb.text("country_saved", language)


def location_text(
    kb: KnowledgeBase, entry: CountryNumbers | None, *, coordinates: str, language: str
) -> str:
    """Return the reply to a shared location: the numbers, then the position to read out."""
    position = kb.text("location_position", language).format(coordinates=coordinates)
    if entry is None:
        return f"{position}\n\n{kb.text('country_unknown', language)}"
    lines = [local_number_line(entry, language)]
    if entry.notes is not None:
        lines.append(localize(entry.notes, language))
    lines += ["", position, "", kb.text("country_saved", language)]
    return "\n".join(lines)


# --- the summary to show a doctor -------------------------------------------------------------


SUMMARY_FACTS = (
    ("summary_where", ("muscle_location",)),
    ("summary_now", ("cramp_now",)),
    ("summary_how_long", ("cramp_duration", "eases_with_stretching")),
    ("summary_heat", ("hot_conditions", "body_heat", "heavy_sweating", "salty_sweat",
                      "fluid_intake", "unwell_after_cooling")),
    ("summary_medicines", ("cramp_linked_medication", "new_medication", "long_term_condition",
                           "pregnant")),
)  # fmt: skip
"""The summary's fact lines: a heading text and the findings it lists, when answered."""


def summary_text(kb: KnowledgeBase, result: Result, language: str, when: datetime) -> str:
    """Return a compact, forwardable summary for a doctor (issue 13).

    Time, level; where the cramp is, now or stopped, how long, the heat and sweat answers,
    medicines and conditions; the answers that set the level or pointed to a cause; red flags
    answered "not sure"; "no red flags reported" with those checked; the likely causes.
    `when` is the time of the result (timezone-aware; shown in UTC): the engine has no clock.
    """
    info = _level_info(kb, result.level)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"📋 {kb.text('summary_title', language)}",
        f"{kb.text('summary_date', language)}: {stamp}",
        f"{kb.text('summary_level', language)}: {info.banner} {localize(info.title, language)}",
        "",
    ]
    found = result.findings
    for heading, codes in SUMMARY_FACTS:
        facts = [_fact(kb, code, found[code], language) for code in codes if _known(found, code)]
        if facts:
            lines.append(f"{kb.text(heading, language)}: {'; '.join(facts)}")
    answers = key_answers(kb, result)
    lines += ["", f"{kb.text('summary_answers', language)}:"]
    lines += [
        f"• {_capitalised(localize(kb.finding(code).label, language))}: "
        f"{_answer_label(kb, code, value, language)}"
        for code, value in answers.items()
    ] or [kb.text("summary_no_answers", language)]
    checked = [
        localize(kb.finding(code).label, language)
        for code, value in found.items()
        if value == "no" and kb.finding(code).red_flag
    ]
    if checked:
        lines += ["", f"{kb.text('summary_no_red_flags', language)}: {'; '.join(checked)}."]
    names = {cause.id: cause.name for cause in kb.causes}
    lines += ["", f"{kb.text('likely_causes', language)}:"]
    lines += [f"• {localize(names[score.cause], language)}" for score in result.causes] or [
        kb.text("summary_no_causes", language)
    ]
    lines += ["", kb.text("summary_footer", language)]
    return _fit("\n".join(lines))


def _known(found: dict[str, str], code: str) -> bool:
    return found.get(code, UNKNOWN) != UNKNOWN


def _fact(kb: KnowledgeBase, code: str, value: str, language: str) -> str:
    """Return "label: answer" for one finding of the summary's fact lines."""
    if code == "cramp_now" and f"summary_now_{value}" in kb.texts:
        return kb.text(f"summary_now_{value}", language)
    label = localize(kb.finding(code).label, language)
    return f"{label}: {_answer_label(kb, code, value, language)}"


def key_answers(kb: KnowledgeBase, result: Result) -> dict[str, str]:
    """Return the answers that fired a triage rule or pointed to a likely cause, plus every
    red flag answered "not sure", in the order they were answered."""
    codes = set(result.unsure)
    for hit in result.rules:
        codes.update(hit.evidence)
    for score in result.causes:
        for signal, evidence in score.signals:
            if signal.weight > 0:
                codes.update(evidence)
    return {code: value for code, value in result.findings.items() if code in codes}


def _answer_label(kb: KnowledgeBase, code: str, value: str, language: str) -> str:
    """Return an answer as the user saw it: the option's or item's label, yes/no, "Not sure"."""
    if value == UNKNOWN:
        return kb.text("not_sure", language)
    for question in kb.questions:
        if isinstance(question, SingleQuestion) and question.finding == code:
            for option in question.options:
                if option.value == value:
                    return localize(option.label, language)
        if isinstance(question, ChecklistQuestion) and value not in ("yes", "no"):
            for item in question.items:
                if item.finding == code and value in item.values:
                    return localize(item.label, language)
    if value in ("yes", "no"):  # a checklist item: ticked or left unticked
        return kb.text(f"summary_{value}", language)
    if f"summary_value_{value}" in kb.texts:  # an unticked checklist's everyday value
        return kb.text(f"summary_value_{value}", language)
    return value.replace("_", " ")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
