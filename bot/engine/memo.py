"""`IdentityTable`: values made once per frozen object (a knowledge base, a question), then
handed out again.

The engine's and the screens' models are frozen, so what is made from one (the first step of a
questionnaire, a question's text, a keyboard template) never changes. Such objects are keyed by
identity (hashing a whole knowledge base by value would cost more than the work saved); each entry
keeps its objects alive, so that their ids cannot be reused by other objects while it lives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityTable(Generic[V]):
    """Values by the identity of some objects plus plain keys; past `limit` entries the table
    starts afresh (more than a knowledge base's screens come to)."""

    __slots__ = ("_entries", "_limit")

    def __init__(self, limit: int) -> None:
        self._entries: dict[Hashable, tuple[tuple[object, ...], V]] = {}
        self._limit = limit

    def get(self, objects: tuple[object, ...], plain: Hashable, make: Callable[[], V]) -> V:
        """Return the value made for `objects` (by identity) and `plain` (by value), making it
        with `make()` the first time."""
        key = (tuple(map(id, objects)), plain)
        entry = self._entries.get(key)
        if entry is None or any(
            kept is not given for kept, given in zip(entry[0], objects, strict=True)
        ):
            if len(self._entries) >= self._limit:
                self._entries.clear()
            entry = self._entries[key] = (objects, make())
        return entry[1]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
