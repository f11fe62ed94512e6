"""The side tables beside the knowledge base: emergency numbers and the drinking planner.

A knowledge base may leave them out (kb lint checks them only when present), so each is read
from the given knowledge directory when it has the file, else from the bundled `knowledge/`.
Both are read once per path and kept: they are frozen models.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.engine.kb.loader import default_knowledge_dir
from bot.engine.numbers.table import EMERGENCY_NUMBERS_FILE, EmergencyTable, load_emergency_numbers
from bot.engine.sweat.config import PLANNER_FILE, PlannerConfig, load_planner_config


@dataclass(frozen=True, slots=True)
class Tables:
    numbers: EmergencyTable
    planner: PlannerConfig


def load_tables(directory: Path | None = None) -> Tables:
    """Load both tables; raise KnowledgeBaseError when one is broken."""
    numbers = _numbers(table_path(directory, EMERGENCY_NUMBERS_FILE))
    return Tables(numbers=numbers, planner=_planner(table_path(directory, PLANNER_FILE)))


def table_path(directory: Path | None, file: str) -> Path:
    """Return `directory/file` when it exists, else the bundled copy."""
    if directory is not None and (directory / file).is_file():
        return directory / file
    return default_knowledge_dir() / file


@cache
def _numbers(path: Path) -> EmergencyTable:
    return load_emergency_numbers(path)


@cache
def _planner(path: Path) -> PlannerConfig:
    return load_planner_config(path)
