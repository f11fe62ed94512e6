"""Plain-text wording of every engine step: the only place that formats messages.

Shared by the terminal chat and the Telegram adapter (which adds buttons). Wording comes
from the knowledge base; this module only arranges it. Plain text (no markup) so that no
user-facing string ever needs escaping.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.engine.followup import Reply
from bot.engine.machine import Ask, Result
from bot.engine.models import (
    UNKNOWN,
    Advice,
    ChecklistQuestion,
    KnowledgeBase,
    LevelInfo,
    SingleQuestion,
)
from bot.engine.numbers import CountryNumbers, numbers_line
from bot.engine.primitives import Level, localize

TELEGRAM_TEXT_LIMIT = 4096


def question_text(kb: KnowledgeBase, step: Ask, language: str) -> str:
    """Return the question, with checklist details and ticks, ready to show."""
    question = step.question
    lines = [localize(question.text, language)]
    if question.help:
        lines.append(localize(question.help, language))
    if isinstance(question, ChecklistQuestion):
        lines.append("")
        for item in question.items:
            mark = "☑" if item.finding in step.ticked else "☐"
            detail = localize(item.detail or item.label, language)
            lines.append(f"{mark} {localize(item.label, language)}: {detail}")
        lines += ["", kb.text("checklist_hint", language)]
    return "\n".join(lines)


def card_text(cards: tuple[Advice, ...], language: str) -> str:
    return "\n\n".join(localize(card.text, language) for card in cards)


def result_text(
    kb: KnowledgeBase, result: Result, language: str, *, local: CountryNumbers | None = None
) -> str:
    """Return the whole result: level first, then causes, advice and the safety net.

    `local` is the user's country: urgent and emergency results name its number under the level.
    """
    info = _level_info(kb, result.level)
    parts = [f"{info.banner} {localize(info.title, language)}"]
    if local is not None and shows_local_number(result):
        parts[0] += "\n" + local_number_line(local, language)
    action = [b for b in result.advice if b.section == "action"]
    rest = [b for b in result.advice if b.section in ("care", "prevention")]
    safety = [b for b in result.advice if b.section == "safety"]
    parts.extend(localize(block.text, language) for block in action)
    if result.causes:
        names = {cause.id: cause for cause in kb.causes}
        lines = [kb.text("likely_causes", language) + ":"]
        lines += [f"• {localize(names[c.cause].name, language)}" for c in result.causes]
        parts.append("\n".join(lines))
    if rest:
        lines = [kb.text("what_to_do", language) + ":"]
        lines += [f"• {localize(block.text, language)}" for block in rest]
        parts.append("\n".join(lines))
    parts.append(_safety_net(kb, result, safety, language))
    return _fit("\n\n".join(parts))


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


def summary_text(kb: KnowledgeBase, result: Result, language: str, when: datetime) -> str:
    """Return a compact, forwardable summary: time, answers that mattered, level, causes.

    `when` is the time of the result (timezone-aware; shown in UTC): the engine has no clock.
    """
    info = _level_info(kb, result.level)
    stamp = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"📋 {kb.text('summary_title', language)}",
        f"{kb.text('summary_date', language)}: {stamp}",
        f"{kb.text('summary_level', language)}: {info.banner} {localize(info.title, language)}",
        "",
        f"{kb.text('summary_answers', language)}:",
    ]
    answers = key_answers(kb, result)
    lines += [
        f"• {_capitalised(localize(kb.finding(code).label, language))}: "
        f"{_answer_label(kb, code, value, language)}"
        for code, value in answers.items()
    ] or [kb.text("summary_no_answers", language)]
    names = {cause.id: cause.name for cause in kb.causes}
    lines += ["", f"{kb.text('likely_causes', language)}:"]
    lines += [f"• {localize(names[score.cause], language)}" for score in result.causes] or [
        kb.text("summary_no_causes", language)
    ]
    lines += ["", kb.text("summary_footer", language)]
    return _fit("\n".join(lines))


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
    """Return an answer as the user saw it: the option's label, yes/no, or "Not sure"."""
    if value == UNKNOWN:
        return kb.text("not_sure", language)
    for question in kb.questions:
        if isinstance(question, SingleQuestion) and question.finding == code:
            for option in question.options:
                if option.value == value:
                    return localize(option.label, language)
    if value in ("yes", "no"):  # a checklist item: ticked or left unticked
        return kb.text(f"summary_{value}", language)
    return value.replace("_", " ")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]
