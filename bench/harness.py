"""Processes of a benchmark run: the fake Bot API, each stack under test, and what they cost.

`FakeApi` starts bench/fake_api.py and talks to its ``/_bench/*`` controls. `run_stack` loads a
workload into it, starts one stack as a process of its own, waits for the stack's first getUpdates
(cold start), starts the users, waits until the last update is answered, reads the stack's CPU
time and peak RSS from /proc (Linux), and stops it with SIGTERM (SIGKILL after a grace). Every
wait is bounded, so a stack that hangs fails the run instead of hanging it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 30.0
STOP_GRACE = 15.0
SLOWEST_RATE = 40.0
"""Updates/s a closed-loop run is given time for (plus 20 s) before it counts as stuck: below
the slowest stack seen (CrampCheck on httpx, about 70/s on session 11's slower machine)."""


class BenchError(RuntimeError):
    """A stack failed, hung or made the wrong calls."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class FakeApi:
    """The fake Bot API process on 127.0.0.1:`port`."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = log.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, str(BENCH / "fake_api.py"), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "listening PORT", or "" if it died
        if not line.startswith("listening"):
            self.close()
            raise BenchError("the fake Bot API did not start")

    def call(self, path: str, payload: object | None = None, *, timeout: float = 30.0) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(f"{self.base}{path}", data=data, method="GET")
        if data is not None:
            request.method = "POST"
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.call("/_bench/quit", {}, timeout=5)
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=5)
        self._log.close()


@dataclass
class Stack:
    """One stack under test: how to start it and what its updates must look like."""

    name: str
    argv: list[str]
    env: dict[str, str]
    validate: bool = False
    """Check every press against the screen the stack showed (CrampCheck only)."""
    store_path: Path | None = None
    """The SQLite file of a CrampCheck run, measured afterwards."""
    namespace: str | None = None
    """The Redis namespace of a CrampCheck run, measured and removed afterwards."""
    profile: Path | None = None
    """Where py-spy writes the collapsed stacks it samples while the users run."""


@dataclass
class Measurement:
    """What one run of one stack cost."""

    stack: str
    result: dict[str, Any]
    cold_start_s: float
    cpu_s: float
    peak_rss_mb: float
    rss_ready_mb: float
    rss_end_mb: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def updates(self) -> int:
        completed: int = self.result["completed"]
        return completed

    @property
    def updates_per_s(self) -> float:
        window: float = self.result["window_s"]
        return self.updates / window if window > 0 else 0.0

    @property
    def cpu_ms_per_1000(self) -> float:
        return self.cpu_s / self.updates * 1_000_000 if self.updates else 0.0


def cpu_seconds(pid: int) -> float:
    """Return the user + system CPU seconds of process `pid` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int, name: str) -> float:
    """Return a /proc/<pid>/status figure such as VmRSS or VmHWM, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_stack(fake: FakeApi, stack: Stack, workload: dict[str, Any], log: Path) -> Measurement:
    """Run `workload` against `stack` in a fresh process; raise BenchError if it fails."""
    fake.call("/_bench/load", {**workload, "validate": stack.validate})
    with log.open("w", encoding="utf-8") as out:
        spawned = time.monotonic()
        process = subprocess.Popen(
            stack.argv, env=stack.env, stdout=out, stderr=subprocess.STDOUT, cwd=BENCH.parent
        )
        try:
            return _measure(fake, stack, process, spawned, workload)
        finally:
            _stop(process)


def _measure(
    fake: FakeApi,
    stack: Stack,
    process: subprocess.Popen[bytes],
    spawned: float,
    workload: dict[str, Any],
) -> Measurement:
    _wait(fake, process, "ready", READY_TIMEOUT, stack.name)
    cpu_before, rss_ready = cpu_seconds(process.pid), memory_mb(process.pid, "VmRSS")
    spy = None if stack.profile is None else _spy(process.pid, stack.profile)
    fake.call("/_bench/start", {})
    total = workload.get("limit") or sum(len(script) for script in workload["users"])
    budget = 20.0 + total / float(workload.get("rate", SLOWEST_RATE))
    try:
        status = _wait(fake, process, "done", budget, stack.name)
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
            spy.wait(timeout=30)
    cpu_after = cpu_seconds(process.pid)
    peak, rss_end = memory_mb(process.pid, "VmHWM"), memory_mb(process.pid, "VmRSS")
    result = fake.call("/_bench/result")
    if not status["done"]:
        raise BenchError(f"{stack.name}: {status['completed']} of {total} updates answered")
    return Measurement(
        stack=stack.name,
        result=result,
        cold_start_s=result["ready_at"] - spawned,
        cpu_s=cpu_after - cpu_before,
        peak_rss_mb=peak,
        rss_ready_mb=rss_ready,
        rss_end_mb=rss_end,
    )


def _spy(pid: int, out: Path) -> subprocess.Popen[bytes]:
    """Start py-spy sampling process `pid` (every thread, 500 times a second) into `out`."""
    spy = Path(sys.executable).with_name("py-spy")
    argv = [
        str(spy),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "500",
        "--format",
        "raw",
        "--nonblocking",
    ]
    process = subprocess.Popen(
        [*argv, "--threads", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let it attach before the users start
    return process


def _wait(
    fake: FakeApi, process: subprocess.Popen[bytes], what: str, seconds: float, name: str
) -> dict[str, Any]:
    """Wait for the run to be `what` (ready or done), at most `seconds`; fail if the stack died."""
    deadline = time.monotonic() + seconds
    while True:
        status: dict[str, Any] = fake.call(f"/_bench/wait?what={what}&timeout=0.5")
        if status[what]:
            return status
        if process.poll() is not None:
            raise BenchError(f"{name} exited with {process.returncode} before it was {what}")
        if time.monotonic() > deadline:
            if what == "ready":
                raise BenchError(f"{name} made no getUpdates within {seconds:.0f} s")
            return status


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
