"""The layout a newcomer reads: each bot/ folder is a documented package listed in the README."""

from __future__ import annotations

import ast
import re

from tests.shared import REPO

BOT = REPO / "bot"
FOLDERS = sorted(
    f"{path.relative_to(REPO).as_posix()}/"
    for path in [BOT, *BOT.rglob("*")]
    if path.is_dir() and path.name != "__pycache__" and path.name != "_knowledge"
)


def readme_folders() -> list[str]:
    """Return the bot/ folders the README's "Where things live" block lists, in its order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Where things live", 1)[1].split("```")[1]
    return re.findall(r"^(bot/\S*)", section, re.MULTILINE)


def test_the_readme_lists_every_folder_of_bot_once() -> None:
    listed = readme_folders()

    assert len(listed) == len(set(listed))
    assert sorted(listed) == FOLDERS


def test_every_folder_is_a_package_that_says_what_it_holds() -> None:
    undocumented = [
        folder
        for folder in FOLDERS
        if not (REPO / folder / "__init__.py").is_file()
        or ast.get_docstring(ast.parse((REPO / folder / "__init__.py").read_text())) is None
    ]

    assert len(FOLDERS) > 10
    assert undocumented == []
