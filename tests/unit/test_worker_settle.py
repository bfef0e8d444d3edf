"""A batch's finish waits for the previous batch's finish before it records and acks; when that
one fails, this one's own work (caching the states, announcing the events) is cancelled and
awaited, and its error retrieved, rather than left running unawaited (worker/settle.py). The
status cache and the outbox are fakes of their interfaces."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime
from typing import Any

import pytest

from worker.batch import BatchPlan
from worker.committer import Committed
from worker.settle import Settler


class Cache:
    """A status cache whose writes fail with `error`, if any."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.written = asyncio.Event()

    async def put_many(self, states: list[Any]) -> None:
        self.written.set()
        if self.error is not None:
            raise self.error


class Outbox:
    """An outbox whose announcing lasts until cancelled when `endless`."""

    def __init__(self, *, endless: bool) -> None:
        self.endless = endless
        self.announcing = asyncio.Event()
        self.cancelled = False
        self.recorded: list[str | None] = []

    async def announce(self, outcomes: list[Any], deliveries: list[Any]) -> bool:
        self.announcing.set()
        if self.endless:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        return True

    def record(self, outbox_batch_id: str | None, announced: bool) -> None:
        self.recorded.append(outbox_batch_id)


async def fails_when(gate: asyncio.Event) -> None:
    await gate.wait()
    raise RuntimeError("the previous finish failed")


def committed() -> Committed:
    return Committed(BatchPlan(datetime.now(UTC)), [], "outbox-row")


async def finish_after_a_failed_finish(cache: Cache, outbox: Outbox) -> None:
    """Finish a batch whose previous finish fails once this one's work is under way."""
    gate = asyncio.Event()
    settler = Settler(0, cache, None, outbox)  # type: ignore[arg-type]
    previous = asyncio.create_task(fails_when(gate))
    finishing = asyncio.create_task(settler._finish(committed(), after=previous))
    await cache.written.wait()
    await outbox.announcing.wait()
    await asyncio.sleep(0)  # what this finish's work raises reaches it
    gate.set()
    with pytest.raises(RuntimeError, match="previous finish failed"):
        await finishing


async def test_a_finish_whose_previous_finish_failed_stops_its_announcing() -> None:
    outbox = Outbox(endless=True)
    await finish_after_a_failed_finish(Cache(), outbox)
    assert outbox.cancelled
    assert outbox.recorded == []


async def test_a_finish_whose_previous_finish_failed_retrieves_its_own_error() -> None:
    loop = asyncio.get_running_loop()
    handler = loop.get_exception_handler()
    reports: list[str] = []
    loop.set_exception_handler(lambda _, context: reports.append(context["message"]))
    try:
        await finish_after_a_failed_finish(
            Cache(RuntimeError("the cache broke")), Outbox(endless=False)
        )
        await asyncio.sleep(0)  # the callbacks still scheduled let go of the finish
        gc.collect()  # an error nobody retrieved is reported as its future is collected
    finally:
        loop.set_exception_handler(handler)
    assert reports == []
