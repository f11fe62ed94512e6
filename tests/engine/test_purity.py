"""STYLE 1 and 7: the engine imports no I/O framework, and its public names are pinned."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import bot.engine
from tests.engine.helpers import REPO_ROOT

ENGINE_DIR = REPO_ROOT / "bot" / "engine"
FORBIDDEN = {"telegram", "redis", "aiosqlite", "asyncio", "httpx", "aiohttp"}
ENGINE_FILES = sorted(ENGINE_DIR.rglob("*.py"))
"""Every module under the engine, its subpackages' too."""


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_engine_has_files_to_check() -> None:
    assert len(ENGINE_FILES) >= 10


def test_the_check_walks_into_every_engine_subpackage() -> None:
    packages = {path.parent for path in ENGINE_DIR.rglob("__init__.py")} - {ENGINE_DIR}
    checked = {path.parent for path in ENGINE_FILES}

    assert packages, "the engine has no subpackages: the walk is not exercised"
    assert packages <= checked


@pytest.mark.parametrize(
    "path", ENGINE_FILES, ids=lambda path: path.relative_to(ENGINE_DIR).as_posix()
)
def test_engine_module_imports_no_io_framework(path: Path) -> None:
    assert _imported_roots(path) & FORBIDDEN == set()


def test_the_import_check_sees_nested_and_dotted_imports(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nimport telegram.ext\ndef f():\n    from redis.asyncio import Redis\n"
        "from . import sibling\n",
        encoding="utf-8",
    )

    assert _imported_roots(sample) == {"os", "telegram", "redis"}


def test_engine_public_names_are_pinned() -> None:
    assert sorted(bot.engine.__all__) == [
        "Ask", "BotError", "CaseRun", "ConflictError", "EngineError", "InvalidAnswer", "Issue",
        "KnowledgeBase", "KnowledgeBaseError", "Level", "Result", "Session", "SessionFinished",
        "SessionOutdated", "Step", "StoreError", "answer", "back", "check_facts",
        "current_step", "default_knowledge_dir", "done", "has_errors", "lint_knowledge_base",
        "load_knowledge_base", "run_case", "start", "toggle",
    ]  # fmt: skip


def test_every_public_name_exists() -> None:
    missing = [name for name in bot.engine.__all__ if not hasattr(bot.engine, name)]

    assert missing == []
