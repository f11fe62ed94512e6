"""Session stores: keyed JSON text with compare-and-set writes and an idle timeout.

The Telegram adapter serialises its own per-chat record to JSON and keeps it here under a
`SessionKey`; the store never looks inside. `open_store(url)` picks the backend: `memory://`,
`sqlite:///path.db` (the default) or `redis://host/0` (several bot processes), whose client
(`shared_client`) the chat locks and the pacer share: one Redis pool per process.
"""

from bot.store.base import Record, SessionKey, SessionStore
from bot.store.factory import open_store, scheme_of, shared_client

__all__ = ["Record", "SessionKey", "SessionStore", "open_store", "scheme_of", "shared_client"]
