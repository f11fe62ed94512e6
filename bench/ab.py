"""Two commits of CrampCheck on the wire, in alternating pairs: what a change costs or saves.

    git worktree add --detach /tmp/other <commit>
    python bench/ab.py /tmp/other [--pairs 3] [--updates 5000]

Each pair runs the benchmark's CrampCheck stack (SQLite, bench/run.py's settings and workload)
once from this checkout (A) and once from the worktree (B, its code first on `PYTHONPATH`), in
alternating order, then the raw aiohttp loop as a reference for how busy the machine was. Prints
CPU-ms per update and updates/s of every run, then the medians. Both commits must draw the same
questionnaire (the workload's presses are checked against the screens shown); a commit whose
questionnaire differs needs its own benchmark instead (docs/performance.md, *Fifth look*).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import workload
from run import QUICK, Bench, Plan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="a worktree of the other commit (B)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--updates", type=int, default=5_000)
    args = parser.parse_args()
    plan = Plan(1, args.updates, QUICK.open_seconds, QUICK.sessions, with_httpx=False)
    bench = Bench(plan)
    runs: dict[str, list[tuple[float, float]]] = {"A": [], "B": [], "raw": []}
    try:
        for number in range(args.pairs):
            order = ("A", "B") if number % 2 == 0 else ("B", "A")
            for name in (*order, "raw"):
                stack = bench.baseline("raw") if name == "raw" else bench.crampcheck("sqlite")
                if name == "B":
                    stack.env["PYTHONPATH"] = str(args.other.resolve())
                load = bench.workload(workload.scripts(args.updates))
                measured = bench.measure(name, stack, load)
                cpu_ms = measured.cpu_s / measured.updates * 1000
                runs[name].append((cpu_ms, measured.updates_per_s))
                print(f"{name}: {cpu_ms:.3f} CPU-ms per update, {measured.updates_per_s:,.0f}/s")
    finally:
        bench.close(keep=False)
    for name, figures in runs.items():
        cpu = statistics.median(cpu_ms for cpu_ms, _ in figures)
        rate = statistics.median(rate for _, rate in figures)
        print(f"{name} median: {cpu:.3f} CPU-ms per update, {rate:,.0f} updates/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
