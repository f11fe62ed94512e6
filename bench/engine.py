"""Engine benchmark: knowledge-base load + lint time, engine step time, screens and taps.

Targets (issue 2): load + lint under 0.3 s; one engine step well under 1 ms; median of at
most 8 question screens and 12 taps over the public vignettes. Times are also reported as
ratios to a baseline measured in the same run (PyYAML parsing the same files; one
`Session` JSON round trip), since this machine is shared and noisy.

    python bench/engine.py [--repeat N]      # prints a table, then one JSON line
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from bot.engine import lint_knowledge_base, load_knowledge_base, run_case
from bot.engine.kb.loader import default_knowledge_dir
from bot.engine.kb.models import ChecklistQuestion, KnowledgeBase
from bot.engine.questionnaire.machine import Ask, answer, done, start
from bot.engine.questionnaire.session import Session

VIGNETTES = Path(__file__).resolve().parents[1].parent / "shared/clinical/vignettes-public.json"


def best_of(repeat: int, action: Callable[[], object]) -> float:
    """Return the fastest of `repeat` timings, in seconds (the least disturbed run)."""
    timings = []
    for _ in range(repeat):
        begin = time.perf_counter()
        action()
        timings.append(time.perf_counter() - begin)
    return min(timings)


def parse_only(directory: Path) -> None:
    for file in sorted(directory.rglob("*.yaml")):
        yaml.safe_load(file.read_text(encoding="utf-8"))


def walk_steps(kb: KnowledgeBase) -> int:
    """Answer "Not sure" / "None of these" throughout; return the number of steps taken."""
    session, step = start(kb)
    steps = 0
    while isinstance(step, Ask):
        if isinstance(step.question, ChecklistQuestion):
            session, step = done(kb, session)
        else:
            session, step = answer(kb, session, len(step.options) - 1)
        steps += 1
    return steps


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    directory = default_knowledge_dir()
    kb = load_knowledge_base(directory)
    yaml_s = best_of(args.repeat, lambda: parse_only(directory))
    load_s = best_of(args.repeat, lambda: load_knowledge_base(directory))
    lint_s = best_of(args.repeat, lambda: lint_knowledge_base(directory))
    steps = walk_steps(kb)
    walk_s = best_of(args.repeat * 3, lambda: walk_steps(kb))
    session = start(kb)[0].dump()
    json_s = best_of(args.repeat * 3, lambda: [Session.load(session).dump() for _ in range(100)])
    figures: dict[str, object] = {
        "load_s": round(load_s, 4),
        "lint_s": round(lint_s, 4),
        "yaml_parse_s": round(yaml_s, 4),
        "lint_vs_yaml_parse": round(lint_s / yaml_s, 2),
        "step_ms": round(walk_s / steps * 1000, 4),
        "step_vs_session_roundtrip": round((walk_s / steps) / (json_s / 100), 2),
    }
    if VIGNETTES.is_file():
        runs = [run_case(kb, case["facts"]) for case in json.loads(VIGNETTES.read_text())]
        figures["median_screens"] = statistics.median(run.questions for run in runs)
        figures["median_taps"] = statistics.median(run.taps for run in runs)
        figures["max_screens"] = max(run.questions for run in runs)
    for key, value in figures.items():
        sys.stdout.write(f"{key:28} {value}\n")
    sys.stdout.write(json.dumps(figures) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
