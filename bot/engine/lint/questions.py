"""Lint checks of the questions: routing and order.

KB201/KB202 (a question's finding or option value is unknown), KB301 (options do not offer
every value of the finding), KB302 (a checklist item stores, covers or declares unticked a
value its finding lacks, or leans on the yes/no default for a finding that is not yes/no),
KB303 (a finding asked twice), KB304 (items of one finding declare different unticked
values), KB305 (an item covers values that some condition tells apart), KB306 (a value a
triage rule reads that no question can record: a finding left without it), KB307 (a rule that
can never fire: an impossible combination), KB401 (`ask_if` reads an answer not asked before)
and KB402 (a question that can never be asked). The checklist rules are the CONTRACT of the
shared findings.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator

from bot.engine.kb.conditions import Condition, FindingIs
from bot.engine.kb.evaluation import findings_in, nodes, walk
from bot.engine.kb.models import ChecklistItem, ChecklistQuestion, SingleQuestion
from bot.engine.lint.context import LintContext, unknown


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
    declared: dict[str, str | None] = {}
    for number, item in enumerate(question.items):
        where = lint.sources.locate("questions", index, "items", number, "finding")
        if item.finding not in lint.values:
            lint.add("KB201", where, unknown("finding", item.finding, lint.values))
            continue
        problem = _item_problem(item, lint.values[item.finding])
        if problem:
            lint.add("KB302", where, f"checklist item {item.key}: {problem}")
        if item.finding in declared and declared[item.finding] != item.unticked_value:
            lint.add("KB304", where, f"items of {item.finding} declare different unticked values")
        declared.setdefault(item.finding, item.unticked_value)
        apart = _told_apart(lint, item)
        if apart:
            lint.add("KB305", where, f"item {item.key} covers values that {apart} tells apart")


def _item_problem(item: ChecklistItem, values: tuple[str, ...]) -> str:
    stored = [*item.values, *([item.unticked_value] if item.unticked_value else [])]
    lacking = [value for value in stored if value not in values]
    if lacking:
        return f"{item.finding} has no value {', '.join(lacking)}"
    if set(values) != {"yes", "no"} and item.value == "yes" and item.unticked is None:
        return f"{item.finding} is not a yes/no finding: declare its value and unticked"
    return ""


def _conditions(lint: LintContext) -> Iterator[tuple[str, Condition]]:
    """Every condition of the knowledge base, with a name for messages."""
    kb = lint.kb
    yield from ((f"pattern {name}", c) for name, c in kb.patterns.items())
    yield from ((f"rule {rule.id}", rule.when) for rule in kb.rules)
    for cause in kb.causes:
        yield from ((f"cause {cause.id}", signal.when) for signal in cause.signals)
    for block in kb.advice:
        for condition in (block.show_if, block.hide_if):
            if condition is not None:
                yield f"advice {block.id}", condition
    for question in kb.questions:
        if question.ask_if is not None:
            yield f"question {question.id}", question.ask_if


def _told_apart(lint: LintContext, item: ChecklistItem) -> str:
    """Name a condition that accepts some but not all of the values `item` covers, if any."""
    covered = set(item.values)
    if len(covered) < 2:  # one value cannot be told apart
        return ""
    for name, condition in _conditions(lint):
        for node in walk(condition):
            if isinstance(node, FindingIs) and node.finding == item.finding:
                accepted = covered & set(node.values)
                if accepted and accepted != covered:
                    return name
    return ""


def check_answerable(lint: LintContext) -> None:
    """Report rule values no question records (KB306) and rules that cannot fire (KB307)."""
    recorded: dict[str, set[str]] = {}
    for question in lint.kb.questions:
        if isinstance(question, SingleQuestion):
            recorded.setdefault(question.finding, set()).update(
                option.value for option in question.options
            )
            continue
        for item in question.items:
            found = recorded.setdefault(item.finding, set())
            found.update(item.values)
            if item.unticked_value:
                found.add(item.unticked_value)
    for index, rule in enumerate(lint.kb.rules):
        where = lint.sources.locate("rules", index, "when")
        reads = [n for n in nodes(rule.when, lint.kb.patterns) if isinstance(n, FindingIs)]
        if not all(_is_known(lint, node) for node in reads):
            continue  # KB201/KB202 say what is wrong
        for node in reads:
            if node.finding in recorded and not set(node.values) & recorded[node.finding]:
                values = ", ".join(node.values)
                lint.add("KB306", where, f"rule {rule.id} reads {node.finding} {values}, "
                         "which no question records")  # fmt: skip
        if not lint.satisfiable(rule.when):
            lint.add("KB307", where, f"rule {rule.id} can never fire: impossible combination")


def _is_known(lint: LintContext, node: FindingIs) -> bool:
    known = lint.values.get(node.finding)
    return known is not None and all(value in known for value in node.values)
