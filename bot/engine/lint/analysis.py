"""Static analysis of conditions: can some answers (and level, and causes) make one true?

Used by lint to find questions that can never be asked and advice that can never be shown.
Exact by enumeration over the findings a condition reads; beyond MAX_COMBINATIONS cases a
condition is assumed satisfiable (lint then stays silent rather than wrong).
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Mapping

from bot.engine.kb.conditions import CauseIs, Condition, PatternIs
from bot.engine.kb.evaluation import Context, findings_in, holds, nodes
from bot.engine.primitives import UNKNOWN, Level

MAX_COMBINATIONS = 100_000


def satisfiable(
    condition: Condition | None,
    *,
    patterns: Mapping[str, Condition],
    values: Mapping[str, tuple[str, ...]],
    level: Level | None = None,
    broken_patterns: Collection[str] = (),
) -> bool:
    """Tell whether some answers (at `level`, or any level) and causes make `condition` true.

    `values` gives each finding's values; a pattern in `broken_patterns` (unknown or cyclic,
    already reported) makes the condition count as satisfiable, since evaluating it cannot end.
    """
    if condition is None:
        return True
    found = list(nodes(condition, patterns))
    if {n.pattern for n in found if isinstance(n, PatternIs)} & set(broken_patterns):
        return True
    codes = sorted(code for code in findings_in(condition, patterns) if code in values)
    causes = sorted({n.cause for n in found if isinstance(n, CauseIs)})
    domains = [(*values[code], UNKNOWN) for code in codes]
    levels = [level] if level is not None else list(Level)
    cause_sets = [
        frozenset(itertools.compress(causes, mask))
        for mask in itertools.product((0, 1), repeat=len(causes))
    ]
    total = len(levels) * len(cause_sets)
    for domain in domains:
        total *= len(domain)
    if total > MAX_COMBINATIONS:
        return True
    for answers in itertools.product(*domains):
        for lvl, chosen in itertools.product(levels, cause_sets):
            context = Context(dict(zip(codes, answers, strict=True)), patterns, lvl, chosen)
            if holds(condition, context):
                return True
    return False
