"""The Bot API stack benchmark (issue 6): CrampCheck against bare PTB, bare aiogram, raw aiohttp.

    python bench/run.py --quick     # one round, under a minute: a table, then one JSON line
    python bench/run.py             # three interleaved rounds; also writes docs/performance.md
    python bench/run.py --profile   # CrampCheck (SQLite) sampled by py-spy: where the CPU goes

A fake Bot API (bench/fake_api.py) runs in a process of its own on 127.0.0.1 with simulated users
answering full questionnaires (bench/workload.py): 100 at once, each pressing its next button as
soon as its screen arrives. Each stack runs as a process of its own and polls it with getUpdates:
CrampCheck as `crampcheck run` runs it (bot.cli.main -> serving.serve -> the at-least-once
PollingLoop of bot/telegram/delivery/polling.py), and the baselines making the same calls per
update, which the fake checks update by update. Stacks run in turn, their order rotated every
round. Then: CrampCheck at a fixed 200 updates/s (open loop) for the latency target, RSS with many
sessions, and bytes per stored session. The production rate limiter (28 messages/s) is switched
off (CRAMPCHECK_RATE_LIMIT_*=0): it would cap every figure at Telegram's limit.

Last, the paced scenario of issue 12 (`impatient`): `crampcheck run` on SQLite with the real
pacing on (per chat a burst of 3 then 1/s, 28/s in all), 30 impatient users
(bench/reliability/impatient.py: second taps while the bot sends, taps on old messages, 10 %
junk text) and no faults; its table gives press -> answer, red flag -> emergency screen and
press -> next screen, and the counts that must be 0. `--only impatient` runs it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flat
import report
import sizes
import workload
from aiogram_env import aiogram_python
from harness import BENCH, BenchError, FakeApi, Measurement, Stack, run_stack

TOKEN = "123456:AAbench-token-for-the-loopback-fake-api"
DOCS = BENCH.parent / "docs" / "performance.md"


@dataclass(frozen=True)
class Plan:
    rounds: int
    updates: int
    open_seconds: float
    sessions: int
    with_httpx: bool
    impatient_seconds: float = 60.0


QUICK = Plan(rounds=1, updates=1_200, open_seconds=4.0, sessions=2_000, with_httpx=False,
             impatient_seconds=20.0)  # fmt: skip
FULL = Plan(rounds=3, updates=5_000, open_seconds=15.0, sessions=10_000, with_httpx=True)
IMPATIENT_USERS = 30
IMPATIENT_SEED = 1
IMPATIENT_ROWS = (
    ("press_answered_p50_s", "press -> answer p50 (s)", None),
    ("press_answered_p95_s", "press -> answer p95 (s)", "<= 0.3"),
    ("press_answered_p99_s", "press -> answer p99 (s)", "<= 0.5"),
    ("red_flag_to_emergency_p95_s", "red-flag tick -> emergency screen p95 (s)", "<= 0.3"),
    ("press_to_next_screen_p50_s", "press -> next screen p50, one-message steps (s)", "<= 0.15"),
    ("trapped_chats", "trapped or stuck chats", "0"),
    ("presses_unanswered", "presses never answered", "0"),
    ("presses_answered_twice", "presses answered twice", "0"),
    ("old_screens_back", "old screens back unasked", "0"),
    ("screens_sent_twice", "screens sent twice", "0"),
    ("answers_lost", "answers lost", "0"),
    ("sends_beyond_chat_bucket", "new messages beyond a chat's bucket", "0"),
    ("records_disagreeing_with_screen", "records not matching the screen at the end", "0"),
)
"""The impatient scenario's table: figure, label, target (None: shown without one)."""
OPEN_RATE = 200.0
OPEN_SLOTS = 200


class Bench:
    """One benchmark session: a temp dir, the fake Bot API, and a counter of runs."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.tmp = Path(tempfile.mkdtemp(prefix="crampcheck-bench-"))
        self.fake = FakeApi(self.tmp / "fake_api.log")
        self.runs = 0
        self.notes: list[str] = []
        self.only: set[str] = set()
        self.screen = self.tmp / "screen.json"
        shown = workload.first_screen()
        self.screen.write_text(json.dumps({"welcome": workload.welcome(), **shown.__dict__}))
        self.aiogram, self.aiogram_version = aiogram_python(log=self.tmp / "aiogram_venv.log")
        self.redis_problem = sizes.redis_available()

    def close(self, *, keep: bool) -> None:
        self.fake.close()
        if not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # --- stacks ---------------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CRAMPCHECK_", "BENCH_"))}
        return env | {"BENCH_API": self.fake.base, "BENCH_TOKEN": TOKEN,
                      "BENCH_SCREEN": str(self.screen)}  # fmt: skip

    def crampcheck(self, store: str, *, http: str = "aiohttp") -> Stack:
        self.runs += 1
        env = self.env() | {
            "CRAMPCHECK_TOKEN": TOKEN,
            "CRAMPCHECK_API_URL": f"{self.fake.base}/bot",
            "CRAMPCHECK_RATE_LIMIT_TOTAL": "0",
            "CRAMPCHECK_RATE_LIMIT_CHAT": "0",
            "CRAMPCHECK_HTTP": http,
        }
        stack = Stack("crampcheck", [sys.executable, str(BENCH / "stacks/crampcheck.py")], env,
                      validate=True)  # fmt: skip
        if store == "sqlite":
            stack.store_path = self.tmp / f"run{self.runs}.db"
            env["CRAMPCHECK_STORE"] = f"sqlite:///{stack.store_path}"
        elif store == "redis":
            stack.namespace = f"crampcheck-bench-{os.getpid()}-{self.runs}"
            env |= {"CRAMPCHECK_STORE": sizes.REDIS_URL, "BENCH_REDIS_NAMESPACE": stack.namespace}
        else:
            env["CRAMPCHECK_STORE"] = "memory://"
        return stack

    def baseline(self, name: str) -> Stack:
        self.runs += 1
        python = self.aiogram if name == "aiogram" else Path(sys.executable)
        script = {"ptb": "ptb_bare.py", "aiogram": "aiogram_bare.py", "raw": "raw_aiohttp.py"}
        return Stack(name, [str(python), str(BENCH / "stacks" / script[name])], self.env())

    def stacks(self) -> dict[str, Any]:
        """Return every stack of a round by name, as a function that makes a fresh one."""
        made: dict[str, Any] = {"crampcheck": lambda: self.crampcheck("sqlite")}
        for name in ("ptb", "aiogram", "raw"):
            if name != "aiogram" or self.aiogram is not None:
                made[name] = lambda name=name: self.baseline(name)
        made["crampcheck-memory"] = lambda: self.crampcheck("memory")
        if self.redis_problem is None:
            made["crampcheck-redis"] = lambda: self.crampcheck("redis")
        if self.plan.with_httpx:
            made["crampcheck-httpx"] = lambda: self.crampcheck("sqlite", http="httpx")
        return made

    # --- runs -----------------------------------------------------------------------------------

    def workload(self, users: list[list[str]], **options: Any) -> dict[str, Any]:
        return {"users": users, "chat_base": 7_000_000_000 + self.runs * 100_000,
                "expected": workload.EXPECTED_CALLS, "concurrency": 100, **options}  # fmt: skip

    def measure(self, name: str, stack: Stack, load: dict[str, Any]) -> Measurement:
        """Run one stack, check its calls, and (Redis) measure and remove its keys."""
        log = self.tmp / f"run{self.runs}-{name}.log"
        try:
            measured = run_stack(self.fake, stack, load, log)
            check_calls(name, measured)
            if stack.store_path is not None:
                measured.extra = sizes.sqlite_bytes(stack.store_path)
            if stack.namespace is not None:
                measured.extra = sizes.redis_bytes(stack.namespace)
        except BenchError as error:
            raise BenchError(f"{error} (log: {log})") from None
        else:
            return measured
        finally:
            if stack.namespace is not None:
                sizes.redis_cleanup(stack.namespace)

    def rounds(self, press: list[list[str]]) -> list[dict[str, Measurement]]:
        made = self.stacks()
        names = [name for name in made if not self.only or name in self.only]
        rounds: list[dict[str, Measurement]] = []
        if not names:  # --only open / sessions / impatient: no throughput rounds
            return rounds
        for number in range(self.plan.rounds):
            order = names[number % len(names) :] + names[: number % len(names)]
            runs: dict[str, Measurement] = {}
            for name in order:
                try:
                    runs[name] = self.measure(name, made[name](), self.workload(press))
                except BenchError as error:
                    self.notes.append(f"round {number + 1}: {error}")
                sys.stderr.write(f"bench: round {number + 1} {name}: {_rate(runs.get(name))}\n")
            rounds.append(runs)
        return rounds

    def open_loop(self) -> Measurement:
        # 200 users pressing once a second (Telegram's pace per chat), each a whole questionnaire.
        users, total = workload.scripts(OPEN_SLOTS * 30), int(OPEN_RATE * self.plan.open_seconds)
        load = self.workload(users, mode="open", rate=OPEN_RATE, slots=OPEN_SLOTS, limit=total)
        return self.measure("open", self.crampcheck("sqlite"), load)

    def sessions(self) -> Measurement:
        load = self.workload(workload.start_scripts(self.plan.sessions))
        return self.measure("sessions", self.crampcheck("memory"), load)

    def impatient(self) -> dict[str, Any]:
        """Run the paced impatient scenario (issue 12) and return its figures."""
        out = self.tmp / "impatient.json"
        command = [
            sys.executable, "-m", "bench.reliability.impatient", "--store", "sqlite",
            "--users", str(IMPATIENT_USERS), "--seconds", str(self.plan.impatient_seconds),
            "--seed", str(IMPATIENT_SEED), "--json", str(out),
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRAMPCHECK_")}
        limit = self.plan.impatient_seconds + 300
        try:
            subprocess.run(command, cwd=BENCH.parent, env=env, check=True, timeout=limit,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            tail = (error.stderr or b"")[-2000:].decode(errors="replace")
            raise BenchError(f"impatient scenario failed: {error}\n{tail}") from None
        figures: dict[str, Any] = json.loads(out.read_text())
        return figures


def _rate(measured: Measurement | None) -> str:
    return "failed" if measured is None else f"{measured.updates_per_s:,.0f} updates/s"


def check_calls(name: str, measured: Measurement) -> None:
    """Raise BenchError unless every update got exactly its kind's calls, and nothing else came."""
    result = measured.result
    problems = [f"{count} x {what}" for what, count in result["wrong_calls"].items()]
    problems += [f"{count} x {what}" for what, count in result["violations"].items()]
    wanted: dict[str, int] = {}
    for kind, count in result["kinds"].items():
        for method in workload.EXPECTED_CALLS[kind]:
            wanted[method] = wanted.get(method, 0) + count
    calls = result["calls"]
    for method in sorted(set(wanted) | set(calls)):
        if calls.get(method, 0) != wanted.get(method, 0):
            problems.append(f"{method}: {calls.get(method, 0)} calls, {wanted.get(method, 0)} due")
    if problems:
        raise BenchError(f"{name} made the wrong calls: {'; '.join(problems[:6])}")


def figures(bench: Bench, rounds: list[dict[str, Measurement]]) -> dict[str, Any]:
    """Return the JSON figures, the per-stack summaries and the extra runs."""
    by_stack: dict[str, list[Measurement]] = {}
    for runs in rounds:
        for name, measured in runs.items():
            by_stack.setdefault(name, []).append(measured)
    stacks = {name: report.summary(runs) for name, runs in by_stack.items()}
    rate = {name: stacks.get(name, {}).get("updates_per_s") for name in report.LABELS}
    cramp = by_stack.get("crampcheck", [])
    out: dict[str, Any] = {
        "updates_per_s": rate["crampcheck"],
        "baseline_updates_per_s": rate["ptb"],
        "aiogram_updates_per_s": rate["aiogram"],
        "raw_updates_per_s": rate["raw"],
        "ratio": report.round_ratio(rounds, "crampcheck", "ptb"),
        "ratio_aiogram": report.round_ratio(rounds, "crampcheck", "aiogram"),
        "ratio_raw": report.round_ratio(rounds, "crampcheck", "raw"),
        "p99_ms": None,
        "bytes_per_session": cramp[0].extra["disk_bytes"] if cramp else None,
        "json_bytes_per_session": cramp[0].extra["json_bytes"] if cramp else None,
        "cpu_s_per_1000": stacks.get("crampcheck", {}).get("cpu_s_per_1000"),
        "closed_p99_ms": stacks.get("crampcheck", {}).get("p99_ms"),
        "cold_start_s": stacks.get("crampcheck", {}).get("cold_start_s"),
        "memory_updates_per_s": rate["crampcheck-memory"],
        "redis_updates_per_s": rate["crampcheck-redis"],
        "httpx_updates_per_s": rate["crampcheck-httpx"],
        "spread": stacks.get("crampcheck", {}).get("spread"),
        "rounds": len(rounds),
    }
    redis = by_stack.get("crampcheck-redis", [])
    out["redis_bytes_per_session"] = redis[0].extra["memory_bytes"] if redis else None
    return {"json": out, "stacks": stacks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, under a minute")
    parser.add_argument("--profile", action="store_true", help="profile CrampCheck (SQLite)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    parser.add_argument("--no-docs", action="store_true", help="do not write the docs table")
    parser.add_argument("--only", action="append", help="run only these stacks (repeatable)")
    args = parser.parse_args()
    plan = QUICK if args.quick or args.profile else FULL
    if args.rounds:
        plan = Plan(args.rounds, plan.updates, plan.open_seconds, plan.sessions, plan.with_httpx)
    bench = Bench(plan)
    bench.only = set(args.only or ())
    failed = True
    try:
        if args.profile:
            return profile(bench)
        found = run_all(bench)
        failed = bool(bench.notes)
    finally:
        bench.close(keep=failed)
    write_out(found, plan, docs=not (args.quick or args.no_docs))
    return 0


def run_all(bench: Bench) -> dict[str, Any]:
    press = workload.scripts(bench.plan.updates)
    rounds = bench.rounds(press)
    found = figures(bench, rounds)
    extras = (("open", bench.open_loop), ("sessions", bench.sessions),
              ("impatient", bench.impatient))  # fmt: skip
    for title, extra in extras:
        if bench.only and title not in bench.only:
            continue
        try:
            found[title] = extra()
        except BenchError as error:
            bench.notes.append(str(error))
    found["json"].update(extra_figures(found))
    found["json"]["aiogram"] = bench.aiogram_version or None
    found["json"]["checks"] = "ok" if not bench.notes else "; ".join(bench.notes)
    return found


def extra_figures(found: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if (opened := found.get("open")) is not None:
        out |= {"p99_ms": opened.result["latency_ms"]["p99"],
                "open_p50_ms": opened.result["latency_ms"]["p50"],
                "open_rate": opened.updates / opened.result["span_s"],
                "open_late": opened.result["late"]}  # fmt: skip
    if (held := found.get("sessions")) is not None:
        out |= {"sessions": held.updates, "rss_mb_sessions": held.rss_end_mb,
                "rss_mb_empty": held.rss_ready_mb}  # fmt: skip
    if (impatient := found.get("impatient")) is not None:
        out["impatient"] = {key: impatient[key] for key, _, _ in IMPATIENT_ROWS}
    return out


def impatient_table(figures: dict[str, Any], seconds: float) -> str:
    """Return the paced impatient scenario's figures against issue 12's targets."""
    lines = [
        f"Paced, impatient (issue 12): `crampcheck run`, SQLite, default pacing, "
        f"{IMPATIENT_USERS} impatient users for {seconds:g} s, seed {IMPATIENT_SEED}, no faults "
        f"({figures['presses']:,} presses, {figures['message_calls_per_s']:.1f} message calls/s):",
        "",
        "| figure | measured | target | met |",
        "|---|---|---|---|",
    ]
    for key, label, goal in IMPATIENT_ROWS:
        value = figures[key]
        if goal is None:
            met = ""
        elif goal.startswith("<="):
            met = "yes" if value <= float(goal[2:]) else "**no**"
        else:
            met = "yes" if value == int(goal) else "**no**"
        lines.append(f"| {label} | {value:g} | {goal or ''} | {met} |")
    return "\n".join(lines)


def write_out(found: dict[str, Any], plan: Plan, *, docs: bool) -> None:
    numbers = found["json"]
    impatient = []
    if "impatient" in found:
        impatient.append(impatient_table(found["impatient"], plan.impatient_seconds))
    section = "\n\n".join(
        [
            f"Machine: {report.machine()}; aiogram {numbers['aiogram']}.",
            f"Press workload, {plan.updates:,} updates per run from 100 users at once, "
            f"{plan.rounds} interleaved round(s):",
            report.stack_table(found["stacks"]),
            report.target_table(numbers),
            *impatient,
            "```json\n" + json.dumps(numbers, indent=1) + "\n```",
        ]
    )
    sys.stdout.write(section + "\n")
    if docs:
        report.write_docs(DOCS, section)
    sys.stdout.write(json.dumps(numbers) + "\n")


def profile(bench: Bench) -> int:
    """Run CrampCheck on SQLite under py-spy; print where its CPU time went."""
    stack = bench.crampcheck("sqlite")
    stack.profile = bench.tmp / "profile.txt"
    load = bench.workload(workload.scripts(bench.plan.updates))
    measured = bench.measure("profile", stack, load)
    sys.stdout.write(flat.render(flat.read(stack.profile)))
    sys.stdout.write(f"\n{measured.updates_per_s:,.0f} updates/s while sampled; "
                     f"collapsed stacks: {stack.profile}\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
