"""Open the session store a `CRAMPCHECK_STORE` URL names; the only place that parses store URLs.

Error messages name the URL's scheme only, never the URL: a Redis URL may carry a password.
"""

from __future__ import annotations

import logging
from typing import Any

from bot.engine.errors import StoreError
from bot.store.base import SessionStore
from bot.store.cached import CachingStore
from bot.store.memory import MemoryStore
from bot.store.sqlite import SqliteStore

logger = logging.getLogger(__name__)

_SCHEMES = "memory://, sqlite:///path.db or redis://host:6379/0"


def scheme_of(url: str) -> str:
    """Return a store URL's scheme only (for logs): the rest may hold a password."""
    return url.partition("://")[0].lower()


def shared_client(store: SessionStore) -> Any | None:
    """Return the Redis client of a Redis store (its one pool, for the chat locks and the
    pacer of this process), or None for any other store; a `CachingStore` is looked through."""
    if isinstance(store, CachingStore):
        store = store.inner
    try:
        from bot.store.redis import RedisStore  # the redis extra: no Redis store without it
    except ModuleNotFoundError:
        return None
    return store.client if isinstance(store, RedisStore) else None


async def open_store(url: str, *, ttl_seconds: float | None, create: bool = True) -> SessionStore:
    """Open the store for `url`: `memory://`, `sqlite:///path.db` or `redis[s]://...`.

    `create` False (read-only commands): a SQLite file that is not there is a StoreError.
    """
    _, separator, rest = url.partition("://")
    scheme = scheme_of(url)
    if not separator:
        raise StoreError(f"store URL has no scheme; use {_SCHEMES}")
    if scheme == "memory":
        return MemoryStore(ttl_seconds=ttl_seconds)
    if scheme == "sqlite":
        path = _sqlite_path(rest)
        return await SqliteStore.open(path, ttl_seconds=ttl_seconds, create=create)
    if scheme in ("redis", "rediss"):
        return await _open_redis(url, ttl_seconds=ttl_seconds)
    raise StoreError(f"unknown store scheme {scheme!r}; use {_SCHEMES}")


def _sqlite_path(rest: str) -> str:
    """Return the file path of a SQLite URL after `sqlite://`.

    `sqlite:///crampcheck.db` is relative to the working directory and `sqlite:////var/x.db` is
    absolute, as in SQLAlchemy; a host part such as `sqlite://host/x.db` is refused.
    """
    if not rest.startswith("/"):
        raise StoreError("a SQLite store URL takes no host: write sqlite:///path.db")
    path = rest[1:].split("?", 1)[0]
    if not path:
        raise StoreError("the SQLite store URL names no file: write sqlite:///path.db")
    return path


async def _open_redis(url: str, *, ttl_seconds: float | None) -> SessionStore:
    """Connect to Redis and check it answers, so a bad URL fails at start-up, not mid-chat."""
    try:
        # Imported here so that the redis package stays an optional extra.
        from bot.store.redis import RedisStore
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "redis":
            raise
        raise StoreError(
            "the redis package is not installed: pip install 'crampcheck[redis]'"
        ) from None
    try:
        store = RedisStore.from_url(url, ttl_seconds=ttl_seconds)
    except ValueError:
        raise StoreError("malformed Redis store URL") from None
    try:
        await store.ping()
    except StoreError:
        await store.close()
        raise
    return store
