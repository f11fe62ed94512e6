"""Session stores: keyed JSON text with compare-and-set writes and an idle timeout.

The Telegram adapter serialises its own per-chat record to JSON and keeps it here under a
`SessionKey`; the store never looks inside. `open_store(url)` picks the backend: `memory://`,
`sqlite:///path.db` (the default) or `redis://host/0` (several bot processes).
"""

from bot.store.base import Record, SessionKey, SessionStore
from bot.store.factory import open_store

__all__ = ["Record", "SessionKey", "SessionStore", "open_store"]
