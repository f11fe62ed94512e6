"""The SQLite session store (the default): `store.py` keeps the records, `statements.py` holds
the SQL it runs (connection settings, schema, statements)."""

from bot.store.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
