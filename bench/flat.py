"""Read py-spy's collapsed stacks and say where the CPU went: by function, by area, by caller.

Each line of the file is ``frame;frame;...;leaf count``, a frame ``function (file:line)``. Self
time goes to the leaf; inclusive time to every distinct function on the stack. Areas group files
(the bot's own modules, PTB, aiohttp, pydantic, asyncio, aiosqlite, the sqlite3 thread...).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

FRAME = re.compile(r"^(?P<function>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")
AREAS = (
    ("bot/engine/", "bot engine"),
    ("bot/store/", "bot store"),
    ("bot/telegram/", "bot adapter"),
    ("bot/observability/", "bot metrics"),
    ("bot/", "bot other"),
    ("telegram/", "PTB"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("multidict/", "aiohttp"),
    ("pydantic", "pydantic"),
    ("aiosqlite/", "aiosqlite"),
    ("sqlite3/", "sqlite3"),
    ("asyncio/", "asyncio"),
    ("json/", "json"),
    ("urllib/", "urllib"),
    ("logging/", "logging"),
    ("prometheus_client/", "metrics"),
    ("threading.py", "threads"),
    ("queue.py", "threads"),
)


@dataclass
class Profile:
    total: int
    self_time: Counter[str]
    inclusive: Counter[str]
    areas: Counter[str]


def area(file: str) -> str:
    for marker, name in AREAS:
        if marker in file:
            return name
    return "other"


def read(path: Path) -> Profile:
    """Read a py-spy raw file (one thread's frames may be prefixed by a thread frame)."""
    self_time, inclusive, areas = Counter[str](), Counter[str](), Counter[str]()
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [name for frame in stack.split(";") if (name := _name(frame)) is not None]
        if not frames:
            continue
        leaf_function, leaf_file = frames[-1]
        self_time[f"{leaf_function} ({_short(leaf_file)})"] += count
        areas[area(leaf_file)] += count
        for function, file in dict.fromkeys(frames):
            inclusive[f"{function} ({_short(file)})"] += count
    return Profile(total, self_time, inclusive, areas)


def _name(frame: str) -> tuple[str, str] | None:
    match = FRAME.match(frame.strip())
    if match is None:  # "thread (0x...)" and "process ..." frames
        return None
    return match["function"], match["file"]


def _short(file: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3."):
        if marker in file:
            return file.split(marker, 1)[1].removeprefix("11/")
    return file


def render(profile: Profile, *, top: int = 30) -> str:
    def share(count: int) -> str:
        return f"{count / max(profile.total, 1):6.1%}"

    lines = [f"{profile.total} samples (all threads, on CPU)", "", "By area (self time):"]
    lines += [f"  {share(c)}  {name}" for name, c in profile.areas.most_common()]
    lines += ["", "Self time, top functions:"]
    lines += [f"  {share(c)}  {name}" for name, c in profile.self_time.most_common(top)]
    lines += ["", "Inclusive time, top functions:"]
    lines += [f"  {share(c)}  {name}" for name, c in profile.inclusive.most_common(top + 20)]
    return "\n".join(lines) + "\n"
