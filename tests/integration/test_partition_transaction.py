"""The writer's batch transaction (`store.partition_transaction`), on the real PostgreSQL: it
holds the partition's transaction lock from its first round trip, so a second writer of the
same partition waits until the first commits; it commits what the block wrote, and a block
that raises rolls everything back and leaves the connection outside any transaction, the lock
released. The partitions here are far above any configured count, so no worker's lock is hit."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.contract.partition import PARTITION_LOCK_SPACE
from shared.settings import Settings
from worker.store import partition_transaction

WAIT_S = 5
STILL_WAITING_S = 0.3


class Refused(Exception):
    pass


@pytest.fixture
async def sessions(migrated: Settings) -> AsyncIterator[tuple[asyncpg.Connection, ...]]:
    url = migrated.database_url.get_secret_value()
    first, second = await asyncpg.connect(url), await asyncpg.connect(url)
    try:
        for session in (first, second):
            await session.execute("CREATE TEMPORARY TABLE written (value int)")
        yield first, second
    finally:
        await first.close()
        await second.close()


def a_partition() -> int:
    return random.randrange(100_000, 1_000_000)


async def lock_waiters(session: asyncpg.Connection, partition: int) -> int:
    """Sessions waiting for the partition's lock (advisory keys of two ints: classid, objid)."""
    return int(
        await session.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND classid = $1 AND objid = $2 AND objsubid = 2",
            PARTITION_LOCK_SPACE,
            partition,
        )
    )


async def test_a_second_writer_of_the_partition_waits_until_the_first_commits(
    sessions: tuple[asyncpg.Connection, ...],
) -> None:
    first, second = sessions
    partition = a_partition()
    entered = asyncio.Event()

    async def second_writer() -> None:
        async with partition_transaction(second, partition):
            entered.set()

    async with partition_transaction(first, partition):
        waiting = asyncio.create_task(second_writer())
        await asyncio.sleep(STILL_WAITING_S)
        assert not entered.is_set()
        assert await lock_waiters(first, partition) == 1
    async with asyncio.timeout(WAIT_S):
        await waiting
    assert entered.is_set()
    assert not first.is_in_transaction() and not second.is_in_transaction()


async def test_a_block_that_ends_commits_and_releases_the_lock(
    sessions: tuple[asyncpg.Connection, ...],
) -> None:
    first, second = sessions
    partition = a_partition()
    async with partition_transaction(first, partition):
        await first.execute("INSERT INTO written VALUES (1)")
        assert first.is_in_transaction()
    assert not first.is_in_transaction()
    assert await first.fetchval("SELECT count(*) FROM written") == 1
    async with asyncio.timeout(WAIT_S), partition_transaction(second, partition):
        pass  # the lock is free at once


async def test_a_block_that_raises_rolls_back_and_releases_the_lock(
    sessions: tuple[asyncpg.Connection, ...],
) -> None:
    first, second = sessions
    partition = a_partition()
    with pytest.raises(Refused):
        async with partition_transaction(first, partition):
            await first.execute("INSERT INTO written VALUES (1)")
            raise Refused
    assert not first.is_in_transaction()
    assert await first.fetchval("SELECT count(*) FROM written") == 0
    async with asyncio.timeout(WAIT_S), partition_transaction(second, partition):
        pass
    with pytest.raises(asyncpg.UndefinedTableError):  # refused by PostgreSQL: the same
        async with partition_transaction(first, partition):
            await first.execute("INSERT INTO no_such_table VALUES (1)")
    assert not first.is_in_transaction()
    assert await first.fetchval("SELECT 1") == 1
