"""CrampCheck exactly as `crampcheck run` runs it (bot.cli.main), for the benchmark.

Settings come from CRAMPCHECK_* as usual. One benchmark-only knob: BENCH_REDIS_NAMESPACE gives the
Redis store and the Redis chat locks a namespace of their own. The store URL has no such parameter,
so their keyword default is changed before the bot starts; nothing else differs from production.
"""

from __future__ import annotations

import os
import sys

from bot.cli.main import main as crampcheck


def use_namespace(namespace: str) -> None:
    """Make `namespace` the default of the Redis store and the Redis chat locks."""
    from bot.store.locks import RedisLocks
    from bot.store.redis import RedisStore

    for function in (RedisStore.__init__, RedisStore.from_url.__func__, RedisLocks.__init__):  # type: ignore[attr-defined]
        function.__kwdefaults__ = {**(function.__kwdefaults__ or {}), "namespace": namespace}


def main() -> int:
    if namespace := os.environ.get("BENCH_REDIS_NAMESPACE"):
        use_namespace(namespace)
    return crampcheck(["run"])


if __name__ == "__main__":
    sys.exit(main())
