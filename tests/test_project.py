"""pyproject.toml: mypy checks every bench/ script, which it finds by module name."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_mypy_lists_every_bench_script_by_module_name() -> None:
    """bench/*.py and bench/stacks/*.py import each other as top-level modules, so mypy is given
    their names (tool.mypy.modules); a script missing there would go unchecked."""
    mypy = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    scripts = [*(REPO / "bench").glob("*.py"), *(REPO / "bench" / "stacks").glob("*.py")]
    names = {path.stem for path in scripts} - {"__init__", "wire"}

    assert len(names) >= 10
    assert set(mypy["modules"]) == names | {"bench.wire"}
    assert mypy["mypy_path"] == ["bench", "bench/stacks"]
    assert "bench.reliability" in mypy["packages"]
