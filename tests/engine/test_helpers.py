"""The tiny engine knowledge base the other engine tests use is itself complete and clean."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.engine.errors import KnowledgeBaseError
from bot.engine.lint import lint_knowledge_base
from tests.engine.helpers import ENGINE_KB, load_kb, write_kb

REQUIRED_FILES = {
    "kb.yaml", "findings.yaml", "rules.yaml", "causes.yaml", "advice.yaml", "advice_codes.yaml",
}  # fmt: skip


def test_the_engine_kb_has_every_file_the_loader_needs() -> None:
    assert set(ENGINE_KB) >= REQUIRED_FILES
    assert any(path.startswith("questions/") for path in ENGINE_KB)


def test_the_engine_kb_lints_with_no_issues(tmp_path: Path) -> None:
    assert [issue.render() for issue in lint_knowledge_base(write_kb(tmp_path, ENGINE_KB))] == []


@pytest.mark.parametrize("missing", sorted(REQUIRED_FILES))
def test_loading_without_a_required_file_raises_with_kb102(tmp_path: Path, missing: str) -> None:
    files = {path: text for path, text in ENGINE_KB.items() if path != missing}

    with pytest.raises(KnowledgeBaseError) as caught:
        load_kb(tmp_path, files)
    assert [(issue.code, issue.file) for issue in caught.value.issues] == [("KB102", missing)]
