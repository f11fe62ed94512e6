"""Evaluation of the declarative conditions used by questions, rules, causes and advice."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple, TypeVar, cast

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
from bot.engine.primitives import UNKNOWN, Level


class Context(NamedTuple):
    """What a condition can look at: answers so far, and (for advice) the outcome.

    A named tuple: immutable, and made in a third of a frozen dataclass's time (a press makes
    about ten)."""

    answers: Mapping[str, str]
    patterns: Mapping[str, Condition]
    level: Level = Level.SELF_CARE
    causes: frozenset[str] = frozenset()


def holds(condition: Condition, context: Context) -> bool:
    """Tell whether `condition` is true in `context`; unanswered findings read ``unknown``."""
    entry = _COMPILED.get(id(condition))  # `compiled`'s lookup, inline: a hundred calls a press
    if entry is not None and entry[0] is condition:
        return entry[1](context)
    return compiled(condition)(context)


Test = Callable[[Context], bool]
T = TypeVar("T")
_COMPILED: dict[int, tuple[Condition, Test]] = {}
"""Each condition's test, by id; the entry keeps the condition alive, so its id stays its own."""
MAX_COMPILED = 8192
"""More conditions than any knowledge base has; past it the table starts afresh."""


def compiled(condition: Condition) -> Test:
    """Return `condition` as a function of the context, made once per condition object.

    Every press evaluates a hundred-odd conditions; walking each model with `match` again every
    time was the engine's largest cost (docs/performance.md). The tests behave as the model
    reads: `all` stops at the first False, `any` at the first True, named patterns are looked
    up in the context when evaluated.
    """
    entry = _COMPILED.get(id(condition))
    if entry is not None and entry[0] is condition:
        return entry[1]
    if len(_COMPILED) >= MAX_COMPILED:
        _COMPILED.clear()
    test = _compile(condition)
    _COMPILED[id(condition)] = (condition, test)
    return test


def _compile(condition: Condition) -> Test:
    """Return `condition` as one Python function: a single expression, written once.

    ``{all: [{finding: a, in: [yes]}, {not: {level: [urgent]}}]}`` becomes
    ``def test(c): a = c.answers; return (a.get(v2, UNKNOWN) in v3 and (not c.level in v4))``.
    The tree is one expression, so `and`/`or` stop where the models say (`all` at the first
    False, `any` at the first True) and a hundred conditions a press cost one call each, not
    one per node (nested closures were half the engine's time). Only generated names reach the
    source: each finding code, value set, level set and pattern name is bound in the function's
    namespace, never pasted into its text. A named pattern is looked up in the context when
    evaluated, as before.
    """
    namespace = _namespace()
    return cast(Test, _define("test", [f"return {_expression(condition, namespace)}"], namespace))


def _namespace(**names: object) -> dict[str, object]:
    """Return the names a generated function starts from (`_define`)."""
    return {"UNKNOWN": UNKNOWN, "holds": holds, **names}


def _define(name: str, body: list[str], namespace: dict[str, object]) -> object:
    """Define function `name` of the context `c` (answers as `a`) in `namespace`; return it."""
    source = "\n    ".join([f"def {name}(c):", "a = c.answers", *body]) + "\n"
    exec(compile(source, "<condition>", "exec"), namespace)  # noqa: S102 - names only (_compile)
    return namespace[name]


MAX_NESTING = 50
"""Nodes nested in one expression at most; a deeper part becomes a function of its own (Python's
parser takes 200 nested parentheses)."""


def first_holding(cases: Sequence[tuple[Condition, T]], default: T) -> Callable[[Context], T]:
    """Return a function of the context giving the value paired with the first condition that
    holds in `cases` (`default` if none does), written as one Python function like `_compile`:
    the triage level tries a few dozen rules a press, most urgent first."""
    namespace = _namespace(DEFAULT=default)
    body: list[str] = []
    for condition, value in cases:
        test = _expression(condition, namespace)
        body += [f"if {test}:", f"    return {_bind(namespace, value)}"]
    first = _define("first", [*body, "return DEFAULT"], namespace)
    return cast(Callable[[Context], T], first)


def _expression(condition: Condition, namespace: dict[str, object], depth: int = 0) -> str:
    """Return the Python expression for `condition`, binding its constants in `namespace`."""

    bind = functools.partial(_bind, namespace)
    if depth >= MAX_NESTING:
        return f"{bind(_compile(condition))}(c)"
    match condition:
        case FindingIs(finding=code, values=values):
            return f"a.get({bind(code)}, UNKNOWN) in {bind(frozenset(values))}"
        case AllOf(all_of=parts):
            inner = (_expression(part, namespace, depth + 1) for part in parts)
            return "(" + " and ".join(inner) + ")"
        case AnyOf(any_of=parts):
            inner = (_expression(part, namespace, depth + 1) for part in parts)
            return "(" + " or ".join(inner) + ")"
        case NotOf(negated=part):
            return f"(not {_expression(part, namespace, depth + 1)})"
        case LevelIs(levels=levels):
            return f"c.level in {bind(frozenset(Level.from_code(code) for code in levels))}"
        case CauseIs(cause=cause):
            return f"{bind(cause)} in c.causes"
        case PatternIs(pattern=name):
            return f"holds(c.patterns[{bind(name)}], c)"
    raise TypeError(f"not a condition: {condition!r}")  # pragma: no cover - union is closed


def _bind(namespace: dict[str, object], value: object) -> str:
    """Bind `value` to a new name in `namespace` and return the name (`v` and a number)."""
    name = f"v{len(namespace)}"
    namespace[name] = value
    return name


def _leaf(condition: FindingIs | LevelIs) -> Test:
    """Return a finding's or a level's test as a plain closure (`maybe`'s leaves)."""
    if isinstance(condition, FindingIs):
        code, accepted = condition.finding, frozenset(condition.values)
        return lambda context: context.answers.get(code, UNKNOWN) in accepted
    levels = frozenset(Level.from_code(code) for code in condition.levels)
    return lambda context: context.level in levels


def walk(condition: Condition) -> Iterator[Condition]:
    """Yield `condition` and every condition nested in it."""
    yield condition
    match condition:
        case AllOf(all_of=parts) | AnyOf(any_of=parts):
            for part in parts:
                yield from walk(part)
        case NotOf(negated=part):
            yield from walk(part)


def nodes(
    condition: Condition, patterns: Mapping[str, Condition], _seen: frozenset[str] = frozenset()
) -> Iterator[Condition]:
    """Yield every node, following each named pattern once (a cycle is KB403, not a hang)."""
    for node in walk(condition):
        yield node
        if isinstance(node, PatternIs) and node.pattern in patterns and node.pattern not in _seen:
            yield from nodes(patterns[node.pattern], patterns, _seen | {node.pattern})


def findings_in(condition: Condition, patterns: Mapping[str, Condition]) -> set[str]:
    """Return the finding codes a condition reads, following named patterns."""
    return {node.finding for node in nodes(condition, patterns) if isinstance(node, FindingIs)}


def maybe(condition: Condition, context: Context, open_findings: frozenset[str]) -> bool | None:
    """Three-valued `holds`: None when the answer depends on findings still to be asked.

    Kleene logic: `all` is False as soon as one part is False, `any` True as soon as one is
    True. Used to tell whether a rule could still fire, so that a question that cannot
    change the outcome is not asked. Compiled once per condition, like `holds`: every press
    asks it of the rules above the current level.
    """
    entry = _MAYBE.get(id(condition))
    if entry is None or entry[0] is not condition:
        if len(_MAYBE) >= MAX_COMPILED:
            _MAYBE.clear()
        entry = _MAYBE[id(condition)] = (condition, _compile_maybe(condition))
    return entry[1](context, open_findings)


Maybe = Callable[[Context, frozenset[str]], bool | None]
_MAYBE: dict[int, tuple[Condition, Maybe]] = {}
"""Each condition's three-valued test, by id; the entry keeps the condition alive."""


def _compile_maybe(condition: Condition) -> Maybe:
    match condition:
        case FindingIs(finding=code):
            test = _leaf(condition)
            return lambda context, open_findings: None if code in open_findings else test(context)
        case AllOf(all_of=parts) | AnyOf(any_of=parts):
            tests = tuple(_compile_maybe(part) for part in parts)
            decisive = isinstance(condition, AnyOf)  # True decides an `any`, False an `all`

            def combined(context: Context, open_findings: frozenset[str]) -> bool | None:
                found: bool | None = not decisive
                for part in tests:
                    result = part(context, open_findings)
                    if result is decisive:
                        return decisive
                    if result is None:
                        found = None
                return found

            return combined
        case NotOf(negated=part):
            negated = _compile_maybe(part)

            def not_maybe(context: Context, open_findings: frozenset[str]) -> bool | None:
                result = negated(context, open_findings)
                return None if result is None else not result

            return not_maybe
        case PatternIs(pattern=name):
            return lambda context, open_findings: maybe(
                context.patterns[name], context, open_findings
            )
        case CauseIs():
            return lambda context, open_findings: None
        case LevelIs():
            known = _leaf(condition)  # a level: known now
            return lambda context, open_findings: known(context)
    raise TypeError(f"not a condition: {condition!r}")  # pragma: no cover - union is closed
