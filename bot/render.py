"""Plain-text wording of every engine step: the only place that formats messages.

Shared by the terminal chat and the Telegram adapter (which adds buttons). Wording comes
from the knowledge base; this module only arranges it. Plain text (no markup) so that no
user-facing string ever needs escaping.
"""

from __future__ import annotations

from bot.engine.machine import Ask, Result
from bot.engine.models import Advice, ChecklistQuestion, KnowledgeBase, Level, LevelInfo, localize

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
    return "\n".join(lines)


def card_text(cards: tuple[Advice, ...], language: str) -> str:
    return "\n\n".join(localize(card.text, language) for card in cards)


def result_text(kb: KnowledgeBase, result: Result, language: str) -> str:
    """Return the whole result: level first, then causes, advice and the safety net."""
    info = _level_info(kb, result.level)
    parts = [f"{info.banner} {localize(info.title, language)}"]
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
