"""The SessionStore contract, run against every backend (memory, SQLite, Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.engine.errors import ConflictError
from bot.store import Record, SessionKey, SessionStore
from bot.store.base import CARD, DAY, PLAN

KEY = SessionKey(chat_id=-100123, user_id=42)
DATA = '{"node_id": "start", "answers": []}'

OpenStore = Callable[..., Awaitable[SessionStore]]
LetTimePass = Callable[[float], Awaitable[None]]


class TestSessionStoreContract:
    async def test_get_of_missing_key_returns_none(self, store: SessionStore) -> None:
        assert await store.get(KEY) is None

    async def test_insert_returns_revision_one_and_stores_data(self, store: SessionStore) -> None:
        assert await store.put(KEY, DATA, expected_revision=0) == 1
        assert await store.get(KEY) == Record(revision=1, data=DATA)

    async def test_get_many_reads_each_key_as_get_does_in_order(self, store: SessionStore) -> None:
        other, prefs = SessionKey(-100123, 43), SessionKey(0, 42, scope="pref")
        await store.put(KEY, DATA, expected_revision=0)
        await store.put(KEY, '{"v": 2}', expected_revision=1)
        await store.put(prefs, '{"language": "nb"}', expected_revision=0)
        keys = [prefs, other, KEY, prefs]  # a missing key, and one key twice

        got = await store.get_many(keys)

        assert got == [await store.get(key) for key in keys]
        assert got == [Record(1, '{"language": "nb"}'), None, Record(2, '{"v": 2}'), got[0]]
        assert await store.get_many([]) == []

    async def test_put_with_current_revision_increments_revision(
        self, store: SessionStore
    ) -> None:
        await store.put(KEY, DATA, expected_revision=0)

        assert await store.put(KEY, '{"v": 2}', expected_revision=1) == 2
        assert await store.put(KEY, '{"v": 3}', expected_revision=2) == 3
        assert await store.get(KEY) == Record(revision=3, data='{"v": 3}')

    async def test_put_with_stale_revision_raises_conflict_and_keeps_record(
        self, store: SessionStore
    ) -> None:
        await store.put(KEY, DATA, expected_revision=0)
        await store.put(KEY, '{"v": 2}', expected_revision=1)

        with pytest.raises(ConflictError) as caught:
            await store.put(KEY, '{"lost": true}', expected_revision=1)

        assert (caught.value.key, caught.value.expected, caught.value.actual) == (
            KEY.render(),
            1,
            2,
        )
        assert await store.get(KEY) == Record(revision=2, data='{"v": 2}')

    async def test_insert_over_existing_record_raises_conflict(self, store: SessionStore) -> None:
        await store.put(KEY, DATA, expected_revision=0)

        with pytest.raises(ConflictError) as caught:
            await store.put(KEY, '{"lost": true}', expected_revision=0)

        assert (caught.value.expected, caught.value.actual) == (0, 1)
        assert await store.get(KEY) == Record(revision=1, data=DATA)

    async def test_update_of_missing_record_raises_conflict_with_actual_none(
        self, store: SessionStore
    ) -> None:
        with pytest.raises(ConflictError) as caught:
            await store.put(KEY, DATA, expected_revision=3)

        assert (caught.value.expected, caught.value.actual) == (3, None)
        assert await store.get(KEY) is None

    async def test_negative_expected_revision_is_refused(self, store: SessionStore) -> None:
        with pytest.raises(ValueError, match="expected_revision"):
            await store.put(KEY, DATA, expected_revision=-1)

    async def test_delete_removes_record_and_reports_it(self, store: SessionStore) -> None:
        await store.put(KEY, DATA, expected_revision=0)

        assert await store.delete(KEY) is True
        assert await store.get(KEY) is None
        assert await store.delete(KEY) is False

    async def test_insert_after_delete_starts_again_at_revision_one(
        self, store: SessionStore
    ) -> None:
        await store.put(KEY, DATA, expected_revision=0)
        await store.put(KEY, DATA, expected_revision=1)
        await store.delete(KEY)

        assert await store.put(KEY, DATA, expected_revision=0) == 1

    async def test_delete_user_removes_every_chat_of_that_user_and_nothing_else(
        self, store: SessionStore
    ) -> None:
        mine = [SessionKey(chat_id=chat, user_id=7) for chat in (7, -100, -200)]
        others = [SessionKey(chat_id=-100, user_id=8), SessionKey(chat_id=7, user_id=70)]
        for key in mine + others:
            await store.put(key, DATA, expected_revision=0)

        assert await store.delete_user(7) == 3

        assert [await store.get(key) for key in mine] == [None, None, None]
        assert [await store.get(key) for key in others] == [Record(1, DATA), Record(1, DATA)]
        assert await store.count() == 2
        assert await store.delete_user(7) == 0

    async def test_user_can_start_again_after_delete_user(self, store: SessionStore) -> None:
        await store.put(KEY, DATA, expected_revision=0)
        await store.delete_user(KEY.user_id)

        assert await store.put(KEY, DATA, expected_revision=0) == 1
        assert await store.delete_user(KEY.user_id) == 1

    async def test_keys_with_swapped_chat_and_user_are_separate(self, store: SessionStore) -> None:
        await store.put(SessionKey(chat_id=1, user_id=2), '"a"', expected_revision=0)
        await store.put(SessionKey(chat_id=2, user_id=1), '"b"', expected_revision=0)

        assert await store.get(SessionKey(chat_id=1, user_id=2)) == Record(1, '"a"')
        assert await store.get(SessionKey(chat_id=2, user_id=1)) == Record(1, '"b"')

    @pytest.mark.parametrize(
        "data",
        [
            pytest.param('{"text": "Krampe i leggen: æøå ∑, 痙攣, 🦵🏽, \\u0000"}', id="unicode"),
            pytest.param('"line\\nbreak"\r\n\t  ', id="whitespace"),
            pytest.param("", id="empty"),
            pytest.param('{"blob": "' + "xyz€" * 25_000 + '"}', id="100kb"),
        ],
    )
    async def test_data_round_trips_exactly(self, store: SessionStore, data: str) -> None:
        await store.put(KEY, data, expected_revision=0)

        record = await store.get(KEY)

        assert record is not None
        assert record.data == data

    async def test_concurrent_puts_with_same_revision_have_exactly_one_winner(
        self, store: SessionStore
    ) -> None:
        await store.put(KEY, DATA, expected_revision=0)

        results = await asyncio.gather(
            *(store.put(KEY, f'{{"writer": {n}}}', expected_revision=1) for n in range(20)),
            return_exceptions=True,
        )

        winners = [n for n, result in enumerate(results) if result == 2]
        assert len(winners) == 1
        assert all(isinstance(result, ConflictError) for result in results if result != 2)
        assert await store.get(KEY) == Record(2, f'{{"writer": {winners[0]}}}')

    async def test_concurrent_inserts_have_exactly_one_winner(self, store: SessionStore) -> None:
        results = await asyncio.gather(
            *(store.put(KEY, DATA, expected_revision=0) for _ in range(20)),
            return_exceptions=True,
        )

        assert results.count(1) == 1
        assert sum(isinstance(result, ConflictError) for result in results) == 19

    async def test_count_counts_live_records(self, store: SessionStore) -> None:
        assert await store.count() == 0
        for chat in range(5):
            await store.put(SessionKey(chat_id=chat, user_id=1), DATA, expected_revision=0)
        await store.delete(SessionKey(chat_id=0, user_id=1))

        assert await store.count() == 4

    async def test_record_idle_past_ttl_reads_as_absent(
        self, open_store: OpenStore, let_time_pass: LetTimePass
    ) -> None:
        """The only contract test that sleeps for real (0.3 s, on Redis)."""
        store = await open_store(ttl_seconds=0.2)
        await store.put(KEY, DATA, expected_revision=0)
        await store.put(KEY, DATA, expected_revision=1)

        await let_time_pass(0.3)

        assert await store.get(KEY) is None
        assert await store.get_many([KEY]) == [None]
        assert await store.count() == 0
        with pytest.raises(ConflictError) as caught:
            await store.put(KEY, DATA, expected_revision=2)
        assert caught.value.actual is None
        assert await store.put(KEY, '{"fresh": true}', expected_revision=0) == 1
        assert await store.get(KEY) == Record(1, '{"fresh": true}')

    @pytest.mark.parametrize("backend", ["memory", "sqlite"], indirect=True)
    async def test_put_refreshes_idle_ttl(
        self, open_store: OpenStore, let_time_pass: LetTimePass
    ) -> None:
        """Redis checks the same with PTTL in test_redis_store.py, without sleeping."""
        store = await open_store(ttl_seconds=10)
        await store.put(KEY, DATA, expected_revision=0)
        await let_time_pass(8)
        await store.put(KEY, DATA, expected_revision=1)
        await let_time_pass(8)

        assert await store.get(KEY) == Record(2, DATA)

        await let_time_pass(3)

        assert await store.get(KEY) is None

    @pytest.mark.parametrize("backend", ["memory", "sqlite"], indirect=True)
    async def test_reading_does_not_refresh_idle_ttl(
        self, open_store: OpenStore, let_time_pass: LetTimePass
    ) -> None:
        store = await open_store(ttl_seconds=10)
        await store.put(KEY, DATA, expected_revision=0)
        await let_time_pass(8)
        await store.get(KEY)
        await let_time_pass(3)

        assert await store.get(KEY) is None

    async def test_a_longer_lived_scope_outlives_the_idle_ttl_then_expires(
        self, open_store: OpenStore, let_time_pass: LetTimePass
    ) -> None:
        """A /sweat plan outlives the questionnaire's idle TTL (0.7 s of sleep on Redis)."""
        store = await open_store(ttl_seconds=0.2, lifetimes={PLAN: 0.6})
        plan = SessionKey(KEY.chat_id, KEY.user_id, scope=PLAN)
        await store.put(KEY, DATA, expected_revision=0)
        await store.put(plan, DATA, expected_revision=0)

        await let_time_pass(0.3)

        assert await store.get(KEY) is None
        assert await store.get(plan) == Record(1, DATA)
        assert [keyed async for keyed in store.scan(PLAN)] == [(plan, Record(1, DATA))]

        await let_time_pass(0.4)

        assert await store.get(plan) is None
        assert await store.put(plan, DATA, expected_revision=0) == 1

    async def test_delete_user_erases_a_longer_lived_record_after_the_others_expired(
        self, open_store: OpenStore, let_time_pass: LetTimePass
    ) -> None:
        """/forget must find the trip card's record when everything else has expired, though a
        put with the short TTL came after it (0.3 s of sleep on Redis)."""
        store = await open_store(ttl_seconds=0.2, lifetimes={CARD: 5.0})
        card = SessionKey(KEY.chat_id, KEY.user_id, scope=CARD)
        await store.put(card, DATA, expected_revision=0)
        await store.put(KEY, DATA, expected_revision=0)

        await let_time_pass(0.3)

        assert await store.delete_user(KEY.user_id) == 1
        assert await store.get(card) is None

    @pytest.mark.parametrize("backend", ["memory", "sqlite"], indirect=True)
    async def test_a_plan_lives_31_days_and_a_card_a_year_beside_a_one_day_ttl(
        self, open_store: OpenStore, let_time_pass: LetTimePass
    ) -> None:
        """The real lifetimes (base.LIFETIMES), with a fake clock."""
        store = await open_store(ttl_seconds=DAY)
        keys = [SessionKey(KEY.chat_id, KEY.user_id, scope=s) for s in ("sess", PLAN, CARD)]
        for key in keys:
            await store.put(key, DATA, expected_revision=0)

        await let_time_pass(30 * DAY)
        assert [await store.get(key) is not None for key in keys] == [False, True, True]

        await let_time_pass(1.5 * DAY)
        assert [await store.get(key) is not None for key in keys] == [False, False, True]
        assert await store.put(keys[2], DATA, expected_revision=1) == 2, "a put renews it"

        await let_time_pass(365 * DAY)
        assert await store.get(keys[2]) == Record(2, DATA)

        await let_time_pass(2 * DAY)
        assert await store.get(keys[2]) is None

    @pytest.mark.parametrize("ttl_seconds", [0, -1.0, float("nan"), float("inf")])
    async def test_non_positive_or_non_finite_ttl_is_refused(
        self, open_store: OpenStore, ttl_seconds: float
    ) -> None:
        with pytest.raises(ValueError, match="ttl_seconds"):
            await open_store(ttl_seconds=ttl_seconds)


CHECK = SessionKey(chat_id=-100123, user_id=42, scope="chk")
T0 = 1_700_000_000.0


class TestScheduleContract:
    """Durable schedules: `schedule`, `unschedule`, `due` and their erasure by `delete_user`."""

    async def test_nothing_is_due_in_a_new_store(self, store: SessionStore) -> None:
        assert await store.due(T0) == []

    async def test_a_schedule_is_due_at_its_time_and_not_before(self, store: SessionStore) -> None:
        await store.schedule(CHECK, T0 + 1800.25)

        assert await store.due(T0 + 1800) == []
        assert await store.due(T0 + 1800.25) == [(CHECK, T0 + 1800.25)]
        assert await store.due(T0 + 99_999) == [(CHECK, T0 + 1800.25)]

    async def test_due_does_not_remove_the_schedule(self, store: SessionStore) -> None:
        await store.schedule(CHECK, T0)
        await store.due(T0)

        assert await store.due(T0) == [(CHECK, T0)]

    async def test_unschedule_removes_it_and_reports_whether_it_was_there(
        self, store: SessionStore
    ) -> None:
        await store.schedule(CHECK, T0)

        assert await store.unschedule(CHECK) is True
        assert await store.due(T0 + 1) == []
        assert await store.unschedule(CHECK) is False

    async def test_concurrent_unschedules_have_exactly_one_winner(
        self, store: SessionStore
    ) -> None:
        """Several bot processes may race to send the same check-in; one claim wins."""
        await store.schedule(CHECK, T0)

        results = await asyncio.gather(*(store.unschedule(CHECK) for _ in range(10)))

        assert results.count(True) == 1

    async def test_schedule_again_replaces_the_earlier_due_time(self, store: SessionStore) -> None:
        await store.schedule(CHECK, T0 + 60)
        await store.schedule(CHECK, T0 + 43_200)

        assert await store.due(T0 + 60) == []
        assert await store.due(T0 + 43_200) == [(CHECK, T0 + 43_200)]

    async def test_due_lists_oldest_first_and_honours_the_limit(self, store: SessionStore) -> None:
        keys = [SessionKey(chat_id=chat, user_id=chat, scope="chk") for chat in (1, 2, 3, 4)]
        for key, offset in zip(keys, (30, 10, 20, 5000), strict=True):
            await store.schedule(key, T0 + offset)

        assert await store.due(T0 + 100) == [
            (keys[1], T0 + 10),
            (keys[2], T0 + 20),
            (keys[0], T0 + 30),
        ]
        assert await store.due(T0 + 100, limit=2) == [(keys[1], T0 + 10), (keys[2], T0 + 20)]

    async def test_schedules_keep_scope_chat_and_user_apart(self, store: SessionStore) -> None:
        keys = [
            SessionKey(chat_id=1, user_id=2, scope="chk"),
            SessionKey(chat_id=2, user_id=1, scope="chk"),
            SessionKey(chat_id=1, user_id=2, scope="sess"),
        ]
        for offset, key in enumerate(keys):
            await store.schedule(key, T0 + offset)

        assert await store.unschedule(keys[0]) is True
        assert await store.due(T0 + 10) == [(keys[1], T0 + 1), (keys[2], T0 + 2)]

    async def test_delete_user_removes_their_schedules_and_nothing_else(
        self, store: SessionStore
    ) -> None:
        mine = [SessionKey(chat_id=chat, user_id=7, scope="chk") for chat in (7, -100)]
        other = SessionKey(chat_id=-100, user_id=8, scope="chk")
        for key in [*mine, other]:
            await store.schedule(key, T0)
        await store.put(mine[0], DATA, expected_revision=0)

        assert await store.delete_user(7) == 1, "schedules are removed but not counted"

        assert await store.due(T0) == [(other, T0)]
        assert await store.unschedule(mine[1]) is False
        assert await store.get(mine[0]) is None

    async def test_a_schedule_outlives_the_idle_ttl_of_records(
        self, open_store: OpenStore, let_time_pass: LetTimePass
    ) -> None:
        """A morning check-in must still fire when its record has expired (0.3 s on Redis)."""
        store = await open_store(ttl_seconds=0.2)
        await store.put(CHECK, DATA, expected_revision=0)
        await store.schedule(CHECK, T0)

        await let_time_pass(0.3)

        assert await store.get(CHECK) is None
        assert await store.due(T0) == [(CHECK, T0)]

    @pytest.mark.parametrize("backend", ["sqlite", "redis"], indirect=True)
    async def test_schedules_survive_reopening_the_store(self, open_store: OpenStore) -> None:
        """A restart (a new store on the same SQLite file or Redis) finds every schedule."""
        first = await open_store()
        await first.schedule(CHECK, T0 + 5)
        await first.close()

        reopened = await open_store()

        assert await reopened.due(T0 + 5) == [(CHECK, T0 + 5)]
        assert await reopened.unschedule(CHECK) is True

    @pytest.mark.parametrize("due_at", [float("nan"), float("inf"), float("-inf")])
    async def test_non_finite_due_time_is_refused(
        self, store: SessionStore, due_at: float
    ) -> None:
        with pytest.raises(ValueError, match="due_at"):
            await store.schedule(CHECK, due_at)

    async def test_a_limit_below_one_is_refused(self, store: SessionStore) -> None:
        with pytest.raises(ValueError, match="limit"):
            await store.due(T0, limit=0)


@pytest.mark.parametrize(
    "key",
    [
        SessionKey(chat_id=-100123, user_id=42),
        SessionKey(chat_id=0, user_id=7, scope="pref"),
        SessionKey(chat_id=5, user_id=-6, scope="chk"),
    ],
)
def test_a_rendered_key_parses_back_to_itself(key: SessionKey) -> None:
    assert SessionKey.parse(key.render()) == key


@pytest.mark.parametrize(
    "text", ["", "chk:1", "chk:1:2:3", "CHK:1:2", "chk:01:2", "chk:-0:2", "chk:1: 2", "chk:1:٣"]
)
def test_anything_but_a_rendered_key_does_not_parse(text: str) -> None:
    with pytest.raises(ValueError, match="not a rendered session key"):
        SessionKey.parse(text)
