"""Turn the runs into figures: medians and spread per stack, ratios per round, targets, tables.

Ratios are taken within a round (the stacks of one round ran minutes apart at most, on the same
machine state) and then the median over rounds is reported; spread is (max - min) / median of a
stack's updates/s over the rounds.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import Measurement

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TARGETS: tuple[tuple[str, str, Callable[[float], bool], str], ...] = (
    ("ratio_aiogram", "CrampCheck / bare aiogram", lambda v: v >= 1.0, ">= 1.0"),
    ("ratio", "CrampCheck / bare PTB (httpx)", lambda v: v >= 3.0, ">= 3.0"),
    ("ratio_raw", "CrampCheck / raw aiohttp", lambda v: v >= 0.35, ">= 0.35"),
    ("p99_ms", "p99 latency at 200 updates/s (ms)", lambda v: v < 20.0, "< 20"),
    ("bytes_per_session", "bytes per stored session (SQLite)", lambda v: v <= 1024, "<= 1024"),
    ("cold_start_s", "cold start to first getUpdates (s)", lambda v: v < 1.5, "< 1.5"),
)
LABELS = {
    "crampcheck": "CrampCheck, SQLite (WAL, synchronous=NORMAL, commit per put)",
    "crampcheck-memory": "CrampCheck, memory store",
    "crampcheck-redis": "CrampCheck, Redis (Lua compare-and-set per put)",
    "crampcheck-httpx": "CrampCheck, SQLite, CRAMPCHECK_HTTP=httpx",
    "ptb": "bare PTB 22, default httpx transport, sequential",
    "aiogram": "bare aiogram 3, default (updates as tasks)",
    "raw": "raw aiohttp loop (no framework)",
}


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def spread(values: Sequence[float]) -> float:
    """Return (max - min) / median, the run-to-run spread (0 with one run)."""
    middle = median(values)
    return (max(values) - min(values)) / middle if len(values) > 1 and middle else 0.0


def summary(runs: Sequence[Measurement]) -> dict[str, float]:
    """Return one stack's medians over its runs."""
    rates = [run.updates_per_s for run in runs]
    return {
        "updates_per_s": median(rates),
        "min": min(rates),
        "max": max(rates),
        "spread": spread(rates),
        "cpu_s_per_1000": median([run.cpu_ms_per_1000 / 1000 for run in runs]),
        "p50_ms": median([run.result["latency_ms"]["p50"] for run in runs]),
        "p99_ms": median([run.result["latency_ms"]["p99"] for run in runs]),
        "peak_rss_mb": max(run.peak_rss_mb for run in runs),
        "cold_start_s": median([run.cold_start_s for run in runs]),
        "fake_busy": median([run.result["fake_cpu_s"] / run.result["window_s"] for run in runs]),
        "updates": median([run.updates for run in runs]),
        "runs": len(runs),
    }


def round_ratio(
    rounds: Sequence[dict[str, Measurement]], stack: str, baseline: str
) -> float | None:
    """Return the median over rounds of stack's updates/s over baseline's in the same round."""
    ratios = [
        runs[stack].updates_per_s / runs[baseline].updates_per_s
        for runs in rounds
        if stack in runs and baseline in runs and runs[baseline].updates_per_s
    ]
    return median(ratios) if ratios else None


def stack_table(stacks: dict[str, dict[str, float]]) -> str:
    """Return the markdown table of every stack's figures."""
    lines = [
        "| stack | updates/s (median; min-max) | CPU s per 1,000 updates | p50 ms | p99 ms "
        "| peak RSS MiB | cold start s | fake API busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, figures in stacks.items():
        lines.append(
            f"| {LABELS.get(name, name)} | {figures['updates_per_s']:,.0f} "
            f"({figures['min']:,.0f}-{figures['max']:,.0f}) | {figures['cpu_s_per_1000']:.3f} "
            f"| {figures['p50_ms']:.1f} | {figures['p99_ms']:.1f} | {figures['peak_rss_mb']:.0f} "
            f"| {figures['cold_start_s']:.2f} | {figures['fake_busy']:.0%} |"
        )
    return "\n".join(lines)


def target_table(figures: dict[str, Any]) -> str:
    lines = ["| target | measured | goal | met |", "|---|---|---|---|"]
    for key, label, check, goal in TARGETS:
        value = figures.get(key)
        shown = "n/a" if value is None else f"{value:,.2f}"
        met = "n/a" if value is None else ("yes" if check(value) else "**no**")
        lines.append(f"| {label} | {shown} | {goal} | {met} |")
    return "\n".join(lines)


def machine() -> str:
    """Return one line naming the machine: cores, CPU model, Python and library versions."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("python-telegram-bot", "aiohttp", "httpx", "aiosqlite", "pydantic")
    )
    python = sys.version.split()[0]
    return f"{cores} cores ({model}), Python {python}, Linux {platform.release()}; {versions}"


def write_docs(path: Path, section: str) -> None:
    """Replace the text between the bench markers of `path` with `section`."""
    text = path.read_text(encoding="utf-8") if path.is_file() else f"{BEGIN}\n{END}\n"
    head, found, rest = text.partition(BEGIN)
    if not found:
        head, rest = text.rstrip() + "\n\n", f"\n{END}\n"
    tail = rest.partition(END)[2]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    path.write_text(
        f"{head}{BEGIN}\n_Written by `python bench/run.py` on {stamp}._\n\n{section}\n{END}{tail}",
        encoding="utf-8",
    )
