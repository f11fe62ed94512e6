"""Read `knowledge/` (YAML): the only loader, for every file the bot and kb lint read.

`read_knowledge_base` parses the questionnaire's files with PyYAML's SafeLoader while keeping
the line of every node, so that a schema error is reported as file, line, dotted path and
reason. The side tables beside it, the emergency numbers and /sweat, have models
of their own (`numbers/table.py`, `sweat/config.py`) and are read here too (`load_tables`).

Reading is not checking: `bot.engine.lint.load_knowledge_base` reads through here, runs every
lint check and refuses a knowledge base with errors; this module never imports lint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from bot.engine.errors import KnowledgeBaseError
from bot.engine.issues import Issue
from bot.engine.kb.models import Advice, Card, Cause, Finding, KnowledgeBase, Question, Rule
from bot.engine.numbers.table import EmergencyTable
from bot.engine.sweat.config import SweatConfig

KB_FILE = "kb.yaml"
EMERGENCY_NUMBERS_FILE = "emergency_numbers.yaml"
SWEAT_FILE = "sweat.yaml"
SECTION_FILES = {
    "findings": "findings.yaml",
    "rules": "rules.yaml",
    "causes": "causes.yaml",
    "advice": "advice.yaml",
    "advice_codes": "advice_codes.yaml",
}
_ADAPTERS: dict[str, TypeAdapter[Any]] = {
    "findings": TypeAdapter(tuple[Finding, ...]),
    "questions": TypeAdapter(tuple[Question, ...]),
    "rules": TypeAdapter(tuple[Rule, ...]),
    "causes": TypeAdapter(tuple[Cause, ...]),
    "advice": TypeAdapter(tuple[Advice, ...]),
    "cards": TypeAdapter(tuple[Card, ...]),
}

Path_ = tuple[str | int, ...]
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader when PyYAML was built with it (several times faster), else PyYAML's."""


def _safe_load(text: str) -> object:
    """Parse YAML `text` with `_SAFE_LOADER` (the side tables: no line numbers needed)."""
    return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader


@dataclass
class SourceMap:
    """Where each loaded element came from: (section, index) -> (file, dotted path prefix)."""

    root: Path
    lines: dict[str, dict[Path_, int]] = field(default_factory=dict)
    origins: dict[tuple[str, int], tuple[str, Path_]] = field(default_factory=dict)

    def locate(self, section: str, index: int, *sub: str | int) -> tuple[str, int | None, str]:
        """Return (file, line, dotted path) of element `index` of `section` (and `sub`)."""
        file, prefix = self.origins.get((section, index), (KB_FILE, (section, index)))
        return self.at(file, (*prefix, *sub))

    def at(self, file: str, path: Path_) -> tuple[str, int | None, str]:
        lines = self.lines.get(file, {})
        probe = path
        while probe and probe not in lines:
            probe = probe[:-1]
        return file, lines.get(probe), ".".join(str(part) for part in path)


@dataclass
class Loaded:
    kb: KnowledgeBase | None
    issues: list[Issue]
    sources: SourceMap


def default_knowledge_dir() -> Path:
    """Return `knowledge/` of a source checkout, or the copy bundled in the wheel."""
    package = Path(__file__).resolve().parents[2]
    for candidate in (package.parent / "knowledge", package / "_knowledge"):
        if (candidate / KB_FILE).is_file():
            return candidate
    return package.parent / "knowledge"


def read_knowledge_base(directory: Path) -> Loaded:
    """Parse and validate every file, collecting all structural issues rather than the first."""
    sources = SourceMap(root=directory)
    issues: list[Issue] = []
    top = _read_yaml(directory, KB_FILE, sources, issues)
    if not isinstance(top, dict):
        if top is not None or not issues:
            issues.append(Issue("KB101", "error", KB_FILE, 1, "", "must be a mapping"))
        return Loaded(None, issues, sources)
    parts: dict[str, Any] = {k: v for k, v in top.items() if k != "question_files"}
    cards = top.get("cards")
    for index in range(len(cards) if isinstance(cards, list) else 0):
        sources.origins[("cards", index)] = (KB_FILE, ("cards", index))
    for section, file in SECTION_FILES.items():
        parts[section] = _read_section(directory, file, section, sources, issues)
    parts["questions"] = _read_questions(directory, top.get("question_files"), sources, issues)
    for section in ("findings", "questions", "rules", "causes", "advice", "cards"):
        if section in parts and parts[section] is not None:
            parts[section] = _validate(section, parts[section], sources, issues)
    codes = parts.get("advice_codes") or []
    if isinstance(codes, list):
        parts["advice_codes"] = [c.get("code") for c in codes if isinstance(c, dict)]
        parts["never_codes"] = [
            c.get("code") for c in codes if isinstance(c, dict) and c.get("never")
        ]
    if issues:
        return Loaded(None, issues, sources)
    try:
        kb = KnowledgeBase.model_validate(parts)
    except ValidationError as error:
        issues.extend(_schema_issues(error, KB_FILE, (), top, sources))
        return Loaded(None, issues, sources)
    return Loaded(kb, issues, sources)


# --------------------------------------------------------------- side tables --
@dataclass(frozen=True, slots=True)
class Tables:
    numbers: EmergencyTable
    sweat: SweatConfig


def load_tables(directory: Path | None = None) -> Tables:
    """Load both tables; raise KnowledgeBaseError when one is broken."""
    numbers = _numbers(table_path(directory, EMERGENCY_NUMBERS_FILE))
    return Tables(numbers=numbers, sweat=_sweat(table_path(directory, SWEAT_FILE)))


def table_path(directory: Path | None, file: str) -> Path:
    """Return `directory/file` when it exists, else the bundled copy."""
    if directory is not None and (directory / file).is_file():
        return directory / file
    return default_knowledge_dir() / file


@cache
def _numbers(path: Path) -> EmergencyTable:
    return load_emergency_numbers(path)


@cache
def _sweat(path: Path) -> SweatConfig:
    return load_sweat_config(path)


def load_emergency_numbers(path: Path) -> EmergencyTable:
    """Read and validate the emergency-number table; raise KnowledgeBaseError if it is bad."""
    try:
        data = _safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise KnowledgeBaseError(f"{path.name}: cannot read: {error}") from error
    try:
        return EmergencyTable.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in detail['loc']) or '(top)'}: {detail['msg']}"
            for detail in error.errors()
        )
        raise KnowledgeBaseError(f"{path.name}: {problems}") from error


def load_sweat_config(path: Path | None = None) -> SweatConfig:
    """Read and validate sweat.yaml (default: the knowledge directory's); the only I/O."""
    file = path or default_knowledge_dir() / SWEAT_FILE
    try:
        config = SweatConfig.model_validate(_safe_load(file.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise KnowledgeBaseError(f"{file}: {error}") from error
    return config


# -------------------------------------------------------------------- parsing --
def _read_section(
    directory: Path, file: str, section: str, sources: SourceMap, issues: list[Issue]
) -> Any:
    data = _read_yaml(directory, file, sources, issues)
    for index in range(len(data) if isinstance(data, list) else 0):
        sources.origins[(section, index)] = (file, (index,))
    return data


def _read_questions(
    directory: Path, files: Any, sources: SourceMap, issues: list[Issue]
) -> list[Any] | None:
    if not isinstance(files, list) or not files:
        issues.append(
            Issue(
                "KB101",
                "error",
                KB_FILE,
                sources.at(KB_FILE, ())[1],
                "question_files",
                "must list the question files in asking order",
            )
        )
        return None
    questions: list[Any] = []
    for name in files:
        file = f"questions/{name}.yaml"
        data = _read_yaml(directory, file, sources, issues)
        if data is None:
            continue
        if not isinstance(data, list):
            issues.append(Issue("KB101", "error", file, 1, "", "must be a list of questions"))
            continue
        for index, question in enumerate(data):
            sources.origins[("questions", len(questions))] = (file, (index,))
            questions.append(question)
    return questions


def _validate(section: str, data: Any, sources: SourceMap, issues: list[Issue]) -> Any:
    try:
        return _ADAPTERS[section].validate_python(data)
    except ValidationError as error:
        for detail in error.errors():
            loc = detail["loc"]
            index = loc[0] if loc and isinstance(loc[0], int) else 0
            file, prefix = sources.origins.get((section, index), (KB_FILE, (section,)))
            element = data[index] if isinstance(data, list) and index < len(data) else data
            path = (*prefix, *_data_path(element, loc[1:] if loc else ()))
            _, line, dotted = sources.at(file, path)
            issues.append(Issue("KB101", "error", file, line, dotted, _reason(detail)))
        return None


def _schema_issues(
    error: ValidationError, file: str, prefix: Path_, data: Any, sources: SourceMap
) -> list[Issue]:
    found = []
    for detail in error.errors():
        path = (*prefix, *_data_path(data, detail["loc"]))
        _, line, dotted = sources.at(file, path)
        found.append(Issue("KB101", "error", file, line, dotted, _reason(detail)))
    return found


def _data_path(data: Any, loc: Sequence[str | int]) -> Path_:
    """Map a pydantic error location onto the YAML data, dropping union tags."""
    path: list[str | int] = []
    for position, part in enumerate(loc):
        is_last = position == len(loc) - 1
        has_child = (
            isinstance(data, dict)
            and part in data
            # A key that holds a scalar while the location goes deeper is a union tag.
            and (is_last or isinstance(data[part], dict | list))
        ) or (isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data))
        if has_child:
            data = data[part]
            if is_last:
                path.append(part)
                return tuple(path)  # found the very element the error names
        elif isinstance(data, dict | list):
            continue  # a discriminator tag or a missing key: keep the parent's path
        else:
            break
        path.append(part)
    missing = loc[-1] if loc else None
    if isinstance(data, dict) and isinstance(missing, str) and missing not in data:
        path.append(missing)
    return tuple(path)


def _reason(detail: Any) -> str:
    return f"{detail['msg']} ({detail['type']})"


def _read_yaml(directory: Path, file: str, sources: SourceMap, issues: list[Issue]) -> Any:
    path = directory / file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        issues.append(Issue("KB102", "error", file, None, "", "file is missing"))
        return None
    except (OSError, UnicodeDecodeError) as error:
        issues.append(Issue("KB102", "error", file, None, "", f"cannot read: {error}"))
        return None
    loader = _SAFE_LOADER(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        issues.append(Issue("KB100", "error", file, line, "", f"YAML syntax: {problem}"))
        return None
    finally:
        loader.dispose()
    lines: dict[Path_, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    sources.lines[file] = lines
    return data


def _record_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            _record_lines(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)
