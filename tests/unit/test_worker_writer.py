"""A writer whose batch in flight fails (an unexpected error, not one the database refuses)
still sees the previous batch's finish through and deletes the outbox rows it confirmed before
its channel closes and its lease goes, and raises that error once (worker/writer.py). The
finish, settler, committer and outbox are the real ones; the status cache is a slow fake, and
the lease a fake that counts what asks for it and refuses, so nothing reaches PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.settings import Settings
from worker.batch import BatchPlan
from worker.committer import Committed, Committing, Progress
from worker.lease import LeaseUnavailable
from worker.writer import PartitionWriter

CACHE_WRITE_S = 0.05


class Cache:
    """A status cache whose writes take `CACHE_WRITE_S`."""

    def __init__(self) -> None:
        self.writes = 0

    async def put_many(self, states: list[Any]) -> None:
        await asyncio.sleep(CACHE_WRITE_S)
        self.writes += 1


class Lease:
    """A lease that counts the times it is asked for the session, and refuses each time."""

    def __init__(self) -> None:
        self.asked = 0

    def acquire(self) -> Lease:
        self.asked += 1
        return self

    async def __aenter__(self) -> None:
        raise LeaseUnavailable("the test's lease refuses")

    async def __aexit__(self, *_: object) -> None:
        return None


async def ended(outcome: Committed | BaseException) -> Committed:
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


@pytest.mark.parametrize("stopping", [False, True], ids=["writing", "stopping"])
async def test_a_failed_batch_still_sees_the_previous_finish_and_its_outbox_row_through(
    stopping: bool,
) -> None:
    """The batch's error found while writing, or while stopping (in `_write`'s `finally`)."""
    cache, lease, stop = Cache(), Lease(), asyncio.Event()
    if stopping:
        stop.set()
    writer = PartitionWriter(0, Settings(), lease, cache, None, None)  # type: ignore[arg-type]
    # The previous batch committed, with an outbox row to announce: its finish starts.
    previous = Committed(BatchPlan(datetime.now(UTC)), [], "outbox-row")
    await writer._settler.conclude(
        Committing([], Progress(), asyncio.create_task(ended(previous))), stop
    )
    error = RuntimeError("a writer error after a commit")
    writer._committing = Committing([], Progress(), asyncio.create_task(ended(error)))
    with pytest.raises(RuntimeError) as raised:
        await writer._write(stop)
    assert raised.value is error
    assert cache.writes == 1  # the previous finish ran to its end
    assert lease.asked == 1  # and its confirmed outbox row was to be deleted
    assert writer._committing is None
