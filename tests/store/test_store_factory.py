"""open_store: one URL per backend, and errors that name the scheme but never the URL."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bot.engine.errors import StoreError
from bot.store import SessionKey, open_store
from bot.store.memory import MemoryStore
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore

KEY = SessionKey(chat_id=1, user_id=2)


async def test_memory_url_opens_memory_store() -> None:
    store = await open_store("memory://", ttl_seconds=None)
    try:
        assert isinstance(store, MemoryStore)
    finally:
        await store.close()


async def test_sqlite_url_with_three_slashes_is_relative_to_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    store = await open_store("sqlite:///data/sessions.db", ttl_seconds=None)
    try:
        assert isinstance(store, SqliteStore)
        await store.put(KEY, "{}", expected_revision=0)
    finally:
        await store.close()

    assert (tmp_path / "data" / "sessions.db").is_file()


async def test_sqlite_url_with_four_slashes_is_absolute(tmp_path: Path) -> None:
    path = tmp_path / "abs" / "sessions.db"
    assert str(path).startswith("/")

    store = await open_store(f"sqlite:///{path}", ttl_seconds=3600)
    try:
        assert isinstance(store, SqliteStore)
    finally:
        await store.close()

    assert path.is_file()


async def test_sqlite_url_with_host_is_refused() -> None:
    with pytest.raises(StoreError, match="no host"):
        await open_store("sqlite://host/sessions.db", ttl_seconds=None)


async def test_sqlite_url_without_file_is_refused() -> None:
    with pytest.raises(StoreError, match="names no file"):
        await open_store("sqlite:///", ttl_seconds=None)


async def test_redis_url_opens_redis_store(redis_url: str) -> None:
    store = await open_store(redis_url, ttl_seconds=60)
    try:
        assert isinstance(store, RedisStore)
        assert await store.get(KEY) is None
    finally:
        await store.close()


async def test_unreachable_redis_raises_store_error_without_password() -> None:
    with pytest.raises(StoreError, match="unreachable") as caught:
        await open_store("redis://:hunter2@127.0.0.1:1/0", ttl_seconds=None)

    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in str(caught.value.__cause__)


async def test_malformed_redis_url_raises_store_error_without_password() -> None:
    with pytest.raises(StoreError, match="malformed") as caught:
        await open_store("redis://:hunter2@127.0.0.1:notaport/0", ttl_seconds=None)

    assert "hunter2" not in str(caught.value)


async def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """None entries in sys.modules make `import redis` fail as if it were not installed."""
    for name in [name for name in sys.modules if name == "redis" or name.startswith("redis.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "bot.store.redis")

    with pytest.raises(StoreError, match=r"pip install 'crampcheck\[redis\]'"):
        await open_store("redis://127.0.0.1:6379/0", ttl_seconds=None)


@pytest.mark.parametrize(
    "url",
    [
        "foo://user:secret@db.internal/0",
        "FOO://user:secret@db.internal",
        "postgres://u:secret@db.internal/x",
    ],
)
async def test_unknown_scheme_is_named_without_the_rest_of_the_url(url: str) -> None:
    with pytest.raises(StoreError, match="unknown store scheme") as caught:
        await open_store(url, ttl_seconds=None)

    message = str(caught.value)
    assert url.partition("://")[0].lower() in message
    assert "secret" not in message
    assert "db.internal" not in message


async def test_url_without_scheme_is_refused_without_echoing_it() -> None:
    with pytest.raises(StoreError, match="no scheme") as caught:
        await open_store("user:secret@sessions.db", ttl_seconds=None)

    assert "secret" not in str(caught.value)
