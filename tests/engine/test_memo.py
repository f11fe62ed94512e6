"""`IdentityTable` (bot/engine/memo.py): made once per object and plain key, by identity."""

from __future__ import annotations

from bot.engine.memo import IdentityTable


class Model:
    """Equal to every other Model by value: the table must still tell them apart."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model)

    __hash__ = object.__hash__


def test_a_value_is_made_once_per_object_and_plain_key() -> None:
    table: IdentityTable[str] = IdentityTable(limit=10)
    first, second = Model(), Model()
    made: list[str] = []

    def make(name: str) -> str:
        made.append(name)
        return name

    assert table.get((first,), "en", lambda: make("first en")) == "first en"
    assert table.get((first,), "en", lambda: make("again")) == "first en"
    assert table.get((first,), "nb", lambda: make("first nb")) == "first nb"
    assert table.get((second,), "en", lambda: make("second en")) == "second en"
    assert made == ["first en", "first nb", "second en"]


def test_past_its_limit_the_table_starts_afresh() -> None:
    table: IdentityTable[int] = IdentityTable(limit=2)
    owner = Model()
    table.get((owner,), 0, lambda: 0)
    table.get((owner,), 1, lambda: 1)
    table.get((owner,), 2, lambda: 2)  # the third: the table was full

    assert len(table) == 1
    assert table.get((owner,), 0, lambda: 99) == 99  # forgotten, made again
