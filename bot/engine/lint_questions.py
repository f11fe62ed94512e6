"""Lint checks of the questions: routing and order.

KB201/KB202 (a question's finding or option value is unknown), KB301 (options do not offer
every value of the finding), KB302 (a checklist item is not a yes/no finding), KB303 (a
finding asked twice), KB401 (`ask_if` reads an answer not asked before) and KB402 (a
question that can never be asked).
"""

from __future__ import annotations

from bot.engine.conditions import findings_in
from bot.engine.lint_context import LintContext, unknown
from bot.engine.models import ChecklistQuestion, SingleQuestion


def check_questions(lint: LintContext) -> None:
    """Report question routing and order problems (KB201-202, KB301-303, KB401-402)."""
    asked_at: dict[str, int] = {}
    for index, question in enumerate(lint.kb.questions):
        where = lint.sources.locate("questions", index)
        if isinstance(question, SingleQuestion):
            _check_single(lint, question, index)
        else:
            _check_checklist(lint, question, index)
        for code in question.findings:
            if code in asked_at:
                lint.add(
                    "KB303",
                    where,
                    f"finding {code} is already asked by {lint.kb.questions[asked_at[code]].id}",
                )
            asked_at.setdefault(code, index)
    for index, question in enumerate(lint.kb.questions):
        if question.ask_if is None:
            continue
        where = lint.sources.locate("questions", index, "ask_if")
        reads = findings_in(question.ask_if, lint.kb.patterns)
        for code in sorted(reads):
            if code in lint.values and asked_at.get(code, len(lint.kb.questions)) >= index:
                lint.add(
                    "KB401",
                    where,
                    f"ask_if reads {code}, which is not asked before question {question.id}",
                )
        if not lint.satisfiable(question.ask_if):
            lint.add("KB402", where, f"question {question.id} can never be asked")


def _check_single(lint: LintContext, question: SingleQuestion, index: int) -> None:
    if question.finding not in lint.values:
        where = lint.sources.locate("questions", index, "finding")
        lint.add("KB201", where, unknown("finding", question.finding, lint.values))
        return
    expected = lint.values[question.finding]
    offered = [option.value for option in question.options]
    for number, value in enumerate(offered):
        if value not in expected:
            where = lint.sources.locate("questions", index, "options", number, "value")
            lint.add("KB202", where, unknown(f"value of {question.finding}", value, expected))
    missing = [value for value in expected if value not in offered]
    if missing:
        where = lint.sources.locate("questions", index, "options")
        lint.add("KB301", where, f"options of {question.id} do not offer {', '.join(missing)}")


def _check_checklist(lint: LintContext, question: ChecklistQuestion, index: int) -> None:
    for number, item in enumerate(question.items):
        where = lint.sources.locate("questions", index, "items", number, "finding")
        if item.finding not in lint.values:
            lint.add("KB201", where, unknown("finding", item.finding, lint.values))
        elif set(lint.values[item.finding]) != {"yes", "no"}:
            lint.add("KB302", where, f"checklist item {item.finding} is not a yes/no finding")
