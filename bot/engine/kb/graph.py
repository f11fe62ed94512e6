"""Draw the questionnaire as a Mermaid or Graphviz flowchart for reviewers."""

from __future__ import annotations

from bot.engine.kb.conditions import (
    AllOf,
    AnyOf,
    CauseIs,
    Condition,
    FindingIs,
    LevelIs,
    NotOf,
    PatternIs,
)
from bot.engine.kb.evaluation import findings_in
from bot.engine.kb.models import KnowledgeBase
from bot.engine.primitives import localize


def describe(condition: Condition) -> str:
    """Return a short, readable form of a condition."""
    match condition:
        case FindingIs(finding=code, values=values):
            return f"{code} in {'/'.join(values)}"
        case AllOf(all_of=parts):
            return "(" + " and ".join(describe(p) for p in parts) + ")"
        case AnyOf(any_of=parts):
            return "(" + " or ".join(describe(p) for p in parts) + ")"
        case NotOf(negated=part):
            return f"not {describe(part)}"
        case LevelIs(levels=levels):
            return f"level in {'/'.join(levels)}"
        case CauseIs(cause=cause):
            return f"cause {cause}"
        case PatternIs(pattern=name):
            return f"pattern {name}"
    raise TypeError(f"not a condition: {condition!r}")  # pragma: no cover


SHORT_TEXT = 40
"""Characters of a question's English text shown in its node."""


def short_text(kb: KnowledgeBase, question_id: str) -> str:
    """Return the question's first line in English, cut to SHORT_TEXT characters, quote-safe."""
    text = localize(kb.question(question_id).text, "en").splitlines()[0].strip()
    if len(text) > SHORT_TEXT:
        text = text[: SHORT_TEXT - 1].rstrip() + "…"
    return text.replace('"', "'")


def interim_index(kb: KnowledgeBase) -> int | None:
    """Return the index of the first question no rule reads, from which on nothing can raise
    the level: the interim answer comes before it at the latest (None: no interim answer)."""
    if not kb.interim_answer:
        return None
    read = set().union(*kb.rule_reads.values())
    return next((i for i in range(len(kb.questions) + 1) if not kb.findings_from[i] & read), None)


INTERIM_NODE = (
    '  interim{{"interim answer: the level is final<br/>'
    '(earlier, once no question ahead can raise it)"}}'
)


def mermaid(kb: KnowledgeBase) -> str:
    """Return a Mermaid flowchart: questions in order, skip conditions, emergency exits, and
    where the interim answer comes (with "Tailor my advice" on to the rest)."""
    lines = ["flowchart TD", "  start([start])"]
    previous = "start"
    interim = interim_index(kb)
    for index, question in enumerate(kb.questions):
        if index == interim:
            lines += [INTERIM_NODE, f"  {previous} --> interim"]
            lines.append(f'  interim -- "Tailor my advice" --> {question.id}')
            previous = "interim"
        label = f"{short_text(kb, question.id)}<br/><small>{question.id}</small>"
        lines.append(f'  {question.id}["{label}"]')
        if question.ask_if is not None:
            condition = describe(question.ask_if).replace('"', "'")
            lines.append(f'  {question.id}_note>"ask if {condition}"] -.- {question.id}')
        if question.skip_if_settled:
            lines.append(f'  {question.id} -.- {question.id}_settled(("skipped once settled"))')
        if previous != "interim":
            lines.append(f"  {previous} --> {question.id}")
        emergencies = [
            rule.id
            for rule in kb.rules
            if rule.level == "emergency"
            and set(question.findings) & findings_in(rule.when, kb.patterns)
        ]
        if emergencies:
            lines.append(f'  {question.id} -- "{", ".join(emergencies)}" --> emergency')
        previous = question.id
    lines.append(f"  {previous} --> result([result: triage, causes, advice])")
    lines.append("  emergency([🚨 emergency result])")
    return "\n".join(lines) + "\n"


def dot(kb: KnowledgeBase) -> str:
    """Return the same flowchart in Graphviz dot."""
    lines = ["digraph questionnaire {", "  rankdir=TB;", "  start [shape=oval];"]
    previous = "start"
    interim = interim_index(kb)
    for index, question in enumerate(kb.questions):
        if index == interim:
            lines.append('  interim [shape=hexagon, label="interim answer: the level is final"];')
            lines.append(f'  {previous} -> interim;\n  interim -> {question.id} [label="Tailor"];')
            previous = ""
        note = f"\\nask if {describe(question.ask_if)}" if question.ask_if is not None else ""
        label = f"{short_text(kb, question.id)}\\n({question.id}){note}".replace('"', "'")
        lines.append(f'  {question.id} [shape=box, label="{label}"];')
        if previous:
            lines.append(f"  {previous} -> {question.id};")
        previous = question.id
    lines.append(f'  {previous} -> result;\n  result [shape=oval, label="result"];\n}}')
    return "\n".join(lines) + "\n"
