"""What test packages share: the ../shared material, the test Redis, a running bot, Sleeps.

CI always has `../shared/` beside the clone; a user's fresh clone does not, and then the
tests that need it skip with the reason instead of failing.

The test Redis is CRAMPCHECK_TEST_REDIS (default redis://127.0.0.1:6379/15). When it cannot be
reached, the tests that need it skip with the reason, unless CRAMPCHECK_REQUIRE_REDIS=1 (CI) makes
that a failure. The `redis_url` and `redis_namespace` fixtures in `tests/conftest.py` use these.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis
import redis.exceptions

from bot.telegram.app import AnyApplication

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REDIS_URL = os.environ.get("CRAMPCHECK_TEST_REDIS", "redis://127.0.0.1:6379/15")
IS_REDIS_REQUIRED = os.environ.get("CRAMPCHECK_REQUIRE_REDIS") == "1"


def shared_file(relative: str) -> Path:
    """Return a file under ../shared/, or skip the calling test with a clear reason."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"{path} not found: the shared clinical material sits beside the clone in CI")
    return path


def require_redis(url: str = REDIS_URL, *, variable: str = "CRAMPCHECK_TEST_REDIS") -> None:
    """Ping the Redis at `url`; skip the calling test without it, or fail when it is required.

    `variable` names the setting that points at another Redis, for the reason shown.
    """
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except (redis.exceptions.RedisError, OSError) as error:
        reason = f"Redis not reachable at {url} ({error}): set {variable}"
        if IS_REDIS_REQUIRED:
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    finally:
        client.close()


def delete_keys(url: str, prefix: str) -> None:
    """Delete every key of the Redis at `url` that starts with `prefix`."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@asynccontextmanager
async def running(app: AnyApplication) -> AsyncIterator[AnyApplication]:
    """Initialise `app` and run post_init; afterwards shut it down and run post_shutdown."""
    async with app:
        assert app.post_init is not None
        await app.post_init(app)
        yield app
    assert app.post_shutdown is not None
    await app.post_shutdown(app)


class Sleeps:
    """An injectable sleep that returns at once and records how long it was asked to wait."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
