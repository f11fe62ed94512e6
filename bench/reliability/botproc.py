"""Run `crampcheck run` as a child process against the loopback Telegram; kill or stop it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

from bench.reliability.fakeapi import HOST, TOKEN

ERROR_MARKERS = (" ERROR ", " CRITICAL ", "Traceback (most recent call last)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def bot_env(api_url: str, store: str, **extra: str) -> dict[str, str]:
    """The child's environment: ours without CRAMPCHECK_*, plus the harness settings."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("CRAMPCHECK_")}
    env.update(
        CRAMPCHECK_TOKEN=TOKEN,
        CRAMPCHECK_API_URL=api_url,
        CRAMPCHECK_STORE=store,
        CRAMPCHECK_LOG_LEVEL="INFO",
        CRAMPCHECK_SESSION_TTL="3600",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class BotProcess:
    """One bot process; its output goes to `log`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: asyncio.subprocess.Process | None = None
        self.exit_codes: list[int] = []

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", env=self.env, stdout=out, stderr=out
            )

    async def kill(self) -> None:
        """SIGKILL: no clean-up at all, as a crash or an OOM kill."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()

    async def stop(self, grace: float = 30.0) -> int:
        """SIGTERM, then wait; SIGKILL after `grace` seconds. Return the exit code."""
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace)
            except TimeoutError:
                await self.kill()
        code = self.process.returncode if self.process.returncode is not None else -9
        self.exit_codes.append(code)
        return code

    def tail(self, lines: int = 30) -> str:
        """Return the end of the bot's log, for a failure message."""
        if not self.log.exists():
            return "(no log)"
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def error_lines(self) -> list[str]:
        if not self.log.exists():
            return []
        lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return [line for line in lines if any(marker in line for marker in ERROR_MARKERS)]
