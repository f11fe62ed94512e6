"""A scripted terminal user for the `crampcheck chat` tests."""

from __future__ import annotations


class ScriptedUser:
    """Feeds a terminal conversation a fixed list of replies and keeps what it printed."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = list(replies)
        self.output: list[str] = []

    def read(self, prompt: str) -> str:
        if not self.replies:
            raise EOFError
        return self.replies.pop(0)

    def write(self, text: str) -> None:
        self.output.append(text)

    @property
    def screen(self) -> str:
        return "".join(self.output)
