"""The aiogram baseline's own venv: aiogram pins pydantic<2.14, so it never joins the bot's.

The requirement is the `bench` extra's aiogram line in pyproject.toml. The venv lives in the user
cache (~/.cache/crampcheck-bench/aiogram-<hash of that line>), is made once with the running
Python's `venv` and pip (about 10 s, which the one-minute --quick budget leaves out), and reused.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TextIO

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crampcheck-bench"


def aiogram_requirement() -> str:
    """Return the aiogram requirement of the `bench` extra, e.g. "aiogram>=3.20,<4"."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    extra: list[str] = project["project"]["optional-dependencies"]["bench"]
    return next(item for item in extra if item.startswith("aiogram"))


def aiogram_python(*, log: Path) -> tuple[Path | None, str]:
    """Return the venv's python (made if missing) and its aiogram version, or None and why."""
    requirement = aiogram_requirement()
    digest = hashlib.sha256(requirement.encode()).hexdigest()[:10]
    venv = CACHE / f"aiogram-{digest}"
    python = venv / "bin" / "python"
    if not (venv / "ready").is_file():
        with log.open("a", encoding="utf-8") as out:
            made = _make(venv, requirement, out)
        if not made:
            return None, f"could not install {requirement} (see {log})"
        (venv / "ready").write_text(requirement, encoding="utf-8")
    version = subprocess.run(
        [python, "-c", "import aiogram; print(aiogram.__version__)"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout.strip()
    return (python, version) if version else (None, "aiogram does not import")


def _make(venv: Path, requirement: str, out: TextIO) -> bool:
    sys.stderr.write(f"bench: creating the aiogram venv {venv} (once)\n")
    commands = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(venv / "bin" / "pip"), "install", "--quiet", requirement],
    ]
    for command in commands:
        done = subprocess.run(command, stdout=out, stderr=out, timeout=600, check=False)
        if done.returncode != 0:
            return False
    return True
