"""Conditions: `holds` per node kind, three-valued `maybe`, `walk` and `findings_in`."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from bot.engine.kb import evaluation
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
from bot.engine.kb.evaluation import Context, compiled, findings_in, holds, maybe, walk
from bot.engine.primitives import UNKNOWN, Level

_ADAPTER: TypeAdapter[Condition] = TypeAdapter(Condition)

A_YES = {"finding": "a", "in": ["yes"]}
B_YES = {"finding": "b", "in": ["yes"]}
PATTERNS: dict[str, Condition] = {
    "a_yes": _ADAPTER.validate_python(A_YES),
    "a_or_b": _ADAPTER.validate_python({"any": [{"pattern": "a_yes"}, B_YES]}),
}


def cond(data: dict[str, Any]) -> Condition:
    return _ADAPTER.validate_python(data)


def ctx(
    level: Level = Level.SELF_CARE, causes: frozenset[str] = frozenset(), **answers: str
) -> Context:
    return Context(answers=answers, patterns=PATTERNS, level=level, causes=causes)


# ----------------------------------------------------------------------- parsing --
@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (A_YES, FindingIs),
        ({"all": [A_YES]}, AllOf),
        ({"any": [A_YES]}, AnyOf),
        ({"not": A_YES}, NotOf),
        ({"level": ["urgent"]}, LevelIs),
        ({"cause": "overuse"}, CauseIs),
        ({"pattern": "a_yes"}, PatternIs),
    ],
)
def test_each_condition_key_parses_to_its_node_kind(data: dict[str, Any], kind: type) -> None:
    assert isinstance(cond(data), kind)


@pytest.mark.parametrize(
    "data",
    [
        {"colour": "red"},
        {"finding": "a", "in": []},
        {"all": []},
        {"level": ["panic"]},
        {"finding": "a", "in": ["yes"], "extra": 1},
    ],
)
def test_malformed_conditions_are_rejected(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        cond(data)


# ------------------------------------------------------------------------- holds --
@pytest.mark.parametrize(
    ("data", "context", "expected"),
    [
        (A_YES, ctx(a="yes"), True),
        (A_YES, ctx(a="no"), False),
        (A_YES, ctx(), False),
        ({"finding": "a", "in": [UNKNOWN]}, ctx(), True),
        ({"finding": "a", "in": [UNKNOWN]}, ctx(a=UNKNOWN), True),
        ({"all": [A_YES, B_YES]}, ctx(a="yes", b="yes"), True),
        ({"all": [A_YES, B_YES]}, ctx(a="yes", b="no"), False),
        ({"any": [A_YES, B_YES]}, ctx(a="no", b="yes"), True),
        ({"any": [A_YES, B_YES]}, ctx(a="no", b="no"), False),
        ({"not": A_YES}, ctx(a="no"), True),
        ({"not": A_YES}, ctx(a="yes"), False),
        ({"level": ["urgent", "emergency"]}, ctx(level=Level.URGENT), True),
        ({"level": ["urgent", "emergency"]}, ctx(level=Level.DOCTOR), False),
        ({"cause": "overuse"}, ctx(causes=frozenset({"overuse"})), True),
        ({"cause": "overuse"}, ctx(causes=frozenset({"medical"})), False),
        ({"pattern": "a_yes"}, ctx(a="yes"), True),
        ({"pattern": "a_yes"}, ctx(a="no"), False),
        ({"pattern": "a_or_b"}, ctx(a="no", b="yes"), True),
        ({"pattern": "a_or_b"}, ctx(a="no", b="no"), False),
    ],
)
def test_holds_evaluates_each_node_kind(
    data: dict[str, Any], context: Context, *, expected: bool
) -> None:
    assert holds(cond(data), context) is expected


# ------------------------------------------------------------------------- maybe --
OPEN = frozenset({"b"})


@pytest.mark.parametrize(
    ("data", "context", "expected"),
    [
        pytest.param(B_YES, ctx(), None, id="open-finding-is-undecided"),
        pytest.param(A_YES, ctx(a="yes"), True, id="closed-finding-true"),
        pytest.param(A_YES, ctx(a="no"), False, id="closed-finding-false"),
        pytest.param(A_YES, ctx(), False, id="closed-unanswered-reads-unknown"),
        pytest.param({"all": [A_YES, B_YES]}, ctx(a="no"), False, id="all-false-beats-none"),
        pytest.param({"all": [A_YES, B_YES]}, ctx(a="yes"), None, id="all-true-and-none"),
        pytest.param({"all": [A_YES, {"finding": "c", "in": ["no"]}]}, ctx(a="yes", c="no"), True,
                     id="all-true"),
        pytest.param({"any": [A_YES, B_YES]}, ctx(a="yes"), True, id="any-true-beats-none"),
        pytest.param({"any": [A_YES, B_YES]}, ctx(a="no"), None, id="any-false-and-none"),
        pytest.param({"any": [A_YES, {"finding": "c", "in": ["yes"]}]}, ctx(a="no", c="no"),
                     False, id="any-false"),
        pytest.param({"not": B_YES}, ctx(), None, id="not-none"),
        pytest.param({"not": A_YES}, ctx(a="yes"), False, id="not-true"),
        pytest.param({"not": A_YES}, ctx(a="no"), True, id="not-false"),
        pytest.param({"pattern": "a_or_b"}, ctx(a="no"), None, id="pattern-follows-open"),
        pytest.param({"pattern": "a_or_b"}, ctx(a="yes"), True, id="pattern-follows-true"),
        pytest.param({"pattern": "a_yes"}, ctx(a="no"), False, id="pattern-follows-false"),
        pytest.param({"cause": "overuse"}, ctx(causes=frozenset({"overuse"})), None,
                     id="cause-is-always-undecided"),
        pytest.param({"level": ["urgent"]}, ctx(level=Level.URGENT), True, id="level-true"),
        pytest.param({"level": ["urgent"]}, ctx(level=Level.DOCTOR), False, id="level-false"),
    ],
)  # fmt: skip
def test_maybe_is_three_valued(
    data: dict[str, Any], context: Context, expected: bool | None
) -> None:
    assert maybe(cond(data), context, OPEN) is expected


def test_maybe_agrees_with_holds_when_nothing_is_open() -> None:
    conditions: list[dict[str, Any]] = [
        A_YES, {"all": [A_YES, B_YES]}, {"any": [A_YES, B_YES]}, {"not": B_YES},
        {"pattern": "a_or_b"}, {"level": ["doctor"]}]  # fmt: skip
    for data in conditions:
        for a in ("yes", "no", UNKNOWN):
            for b in ("yes", "no", UNKNOWN):
                context = ctx(level=Level.DOCTOR, a=a, b=b)
                assert maybe(cond(data), context, frozenset()) is holds(cond(data), context)


# -------------------------------------------------------------- walk, findings_in --
def test_walk_yields_every_nested_condition_but_does_not_enter_patterns() -> None:
    condition = cond({"all": [A_YES, {"not": {"any": [B_YES, {"pattern": "a_yes"}]}}]})

    kinds = [type(node).__name__ for node in walk(condition)]

    assert kinds == ["AllOf", "FindingIs", "NotOf", "AnyOf", "FindingIs", "PatternIs"]


def test_findings_in_follows_named_patterns() -> None:
    condition = cond({"all": [{"finding": "c", "in": ["yes"]}, {"pattern": "a_or_b"}]})

    assert findings_in(condition, PATTERNS) == {"a", "b", "c"}


def test_findings_in_ignores_unknown_patterns_and_non_finding_nodes() -> None:
    condition = cond({"any": [{"pattern": "nope"}, {"level": ["urgent"]}, {"cause": "x"}]})

    assert findings_in(condition, PATTERNS) == set()


# ------------------------------------------------------------------ compiled tests --
def _reference(condition: Condition, context: Context) -> bool:
    """The condition language read straight off the models: what `compiled` must agree with."""
    if isinstance(condition, FindingIs):
        return context.answers.get(condition.finding, UNKNOWN) in condition.values
    if isinstance(condition, AllOf):
        return all(_reference(part, context) for part in condition.all_of)
    if isinstance(condition, AnyOf):
        return any(_reference(part, context) for part in condition.any_of)
    if isinstance(condition, NotOf):
        return not _reference(condition.negated, context)
    if isinstance(condition, LevelIs):
        return context.level.code in condition.levels
    if isinstance(condition, CauseIs):
        return condition.cause in context.causes
    assert isinstance(condition, PatternIs)
    return _reference(context.patterns[condition.pattern], context)


_VALUES = ("yes", "no", UNKNOWN)
_LEAVES = st.one_of(
    st.builds(lambda f, v: {"finding": f, "in": v}, st.sampled_from("abc"),
              st.lists(st.sampled_from(_VALUES), min_size=1, max_size=2)),
    st.builds(lambda v: {"level": v}, st.lists(st.sampled_from([lv.code for lv in Level]),
                                                min_size=1, max_size=2)),
    st.builds(lambda c: {"cause": c}, st.sampled_from(["overuse", "dehydration"])),
    st.builds(lambda p: {"pattern": p}, st.sampled_from(sorted(PATTERNS))),
)  # fmt: skip
_TREES = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.builds(lambda parts: {"all": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda parts: {"any": parts}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda part: {"not": part}, inner),
    ),
    max_leaves=8,
)


@given(
    data=_TREES,
    answers=st.dictionaries(st.sampled_from("abc"), st.sampled_from(_VALUES)),
    level=st.sampled_from(list(Level)),
    causes=st.frozensets(st.sampled_from(["overuse", "dehydration"])),
)
def test_compiled_conditions_agree_with_the_models(
    data: dict[str, Any], answers: dict[str, str], level: Level, causes: frozenset[str]
) -> None:
    condition = cond(data)
    context = Context(answers=answers, patterns=PATTERNS, level=level, causes=causes)

    assert holds(condition, context) is _reference(condition, context)


def _kleene(condition: Condition, context: Context, open_findings: frozenset[str]) -> bool | None:
    """Three-valued logic read straight off the models: what `maybe` must agree with."""
    if isinstance(condition, FindingIs):
        return None if condition.finding in open_findings else _reference(condition, context)
    if isinstance(condition, AllOf | AnyOf):
        parts = condition.all_of if isinstance(condition, AllOf) else condition.any_of
        results = {_kleene(part, context, open_findings) for part in parts}
        decisive = isinstance(condition, AnyOf)  # True decides an any, False an all
        if decisive in results:
            return decisive
        return None if None in results else not decisive
    if isinstance(condition, NotOf):
        result = _kleene(condition.negated, context, open_findings)
        return None if result is None else not result
    if isinstance(condition, CauseIs):
        return None
    if isinstance(condition, PatternIs):
        return _kleene(context.patterns[condition.pattern], context, open_findings)
    return _reference(condition, context)


@given(
    data=_TREES,
    answers=st.dictionaries(st.sampled_from("abc"), st.sampled_from(_VALUES)),
    open_findings=st.frozensets(st.sampled_from("abc")),
    level=st.sampled_from(list(Level)),
)
def test_maybe_agrees_with_three_valued_logic_on_the_models(
    data: dict[str, Any], answers: dict[str, str], open_findings: frozenset[str], level: Level
) -> None:
    condition = cond(data)
    context = Context(answers=answers, patterns=PATTERNS, level=level)

    assert maybe(condition, context, open_findings) is _kleene(condition, context, open_findings)


def test_a_condition_is_compiled_once_and_an_equal_one_on_its_own() -> None:
    first, twin = cond({"all": [A_YES, B_YES]}), cond({"all": [A_YES, B_YES]})

    assert compiled(first) is compiled(first)
    assert compiled(twin) is not compiled(first)
    assert compiled(twin)(ctx(a="yes", b="yes")) is True


def test_the_table_of_tests_starts_afresh_when_full(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation, "MAX_COMPILED", 3)
    evaluation._COMPILED.clear()
    kept = [cond({"finding": "a", "in": [value]}) for value in ("yes", "no", "x", "y")]

    tests = [compiled(condition) for condition in kept]

    assert len(evaluation._COMPILED) == 1  # cleared at the fourth
    assert [test(ctx(a="no")) for test in tests] == [False, True, False, False]
    assert compiled(kept[0])(ctx(a="yes")) is True  # compiled again, correctly


def test_a_condition_nested_deeper_than_one_expression_takes_still_evaluates() -> None:
    # Python's parser takes 200 nested parentheses: deeper parts become functions of their own.
    leaf, condition = cond(A_YES), cond(B_YES)
    for _ in range(3 * evaluation.MAX_NESTING):
        condition = AllOf.model_validate({"all": [leaf, {"not": {"not": condition}}]})

    assert holds(condition, ctx(a="yes", b="yes")) is True
    assert holds(condition, ctx(a="yes", b="no")) is False


@given(
    cases=st.lists(_TREES, max_size=5),
    answers=st.dictionaries(st.sampled_from("abc"), st.sampled_from(_VALUES)),
    level=st.sampled_from(list(Level)),
)
def test_first_holding_gives_the_value_of_the_first_condition_that_holds(
    cases: list[dict[str, Any]], answers: dict[str, str], level: Level
) -> None:
    conditions = [cond(data) for data in cases]
    context = Context(answers=answers, patterns=PATTERNS, level=level)
    expected = next(
        (index for index, each in enumerate(conditions) if _reference(each, context)), -1
    )

    first = evaluation.first_holding([(each, index) for index, each in enumerate(conditions)], -1)

    assert first(context) == expected
