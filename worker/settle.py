"""How a writer settles its batches once the database has answered: a committed batch is
finished (its states cached and announced, then its deliveries acked), a refused one is
searched for what the database refuses.

The ack comes only after the commit. A batch's finish (cache, announce, ack) overlaps the next
batch's database transaction, and the finishes of consecutive batches overlap each other: batch
N is committed before N+1 begins, finishes start in commit order and write their events in that
order, and each acks only after the previous one acked, so every ack follows its commit and
events and acks keep queue order (docs/decisions/0005-group-commit-and-planning-ahead.md).

A message that can never be parsed is dead-lettered as it is collected (worker/intake.py), and
so is one the database refuses (an unknown project, say): a refused batch is applied again one
delivery at a time to find it, and a batch message transaction by transaction: what the
database accepts is committed, and the message is then dead-lettered whole (replaying it later
finds those already applied)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from shared.errors import CacheUnavailable
from shared.redis.status_cache import StatusCache
from worker import delivery
from worker.batch import BatchPlan
from worker.committer import Committed, Committer, Committing
from worker.intake import Parsed
from worker.outbox import Outbox

log = logging.getLogger(__name__)
# The database refuses the message itself (a constraint or a value it cannot store): applying it
# again can never succeed.
REFUSED_BY_DATABASE = (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError)


class Settler:
    """Finishes one partition's batches in commit order, and settles those it refuses."""

    def __init__(
        self, partition: int, cache: StatusCache, committer: Committer, outbox: Outbox
    ) -> None:
        self.partition = partition
        self._cache = cache
        self._committer = committer
        self._outbox = outbox
        self._finishing: asyncio.Task[None] | None = None  # the latest finish

    def idle(self) -> bool:
        """Whether no finish is running."""
        return self._finishing is None or self._finishing.done()

    async def conclude(self, committing: Committing | None, stop: asyncio.Event) -> None:
        """See the batch in flight through its commit, and start its finish after the previous
        batch's; a batch the database refuses is settled here, once the previous finish is
        done."""
        self._finishing = await self._concluded(committing, stop)

    async def drain(self) -> None:
        """Wait for the latest finish, and so for every finish started."""
        if self._finishing is not None:
            await self._finishing
            self._finishing = None

    async def _concluded(
        self, committing: Committing | None, stop: asyncio.Event
    ) -> asyncio.Task[None] | None:
        """`conclude`'s work; returns the latest finish."""
        finishing = self._finishing
        if committing is None:
            return finishing
        try:
            committed = await committing.task
        except REFUSED_BY_DATABASE as error:
            if finishing is not None:
                await finishing
            await self._settle_refused(committing.parsed, stop, error)
            return None
        if finishing is not None and finishing.done():
            finishing.result()  # an error in a finish ends the writer (worker/main.py)
        if committed is None:
            return finishing
        return asyncio.create_task(self._finish(committed, after=finishing))

    async def _finish(
        self, committed: Committed, *, after: asyncio.Task[None] | None = None, ack: bool = True
    ) -> None:
        """Cache the final states and announce them (together, at once), then ack, once the
        previous batch has finished: finishes overlap, while their acks keep queue order. The
        events of consecutive batches are written to the broker in commit order, since each
        finish writes them in its first step, and finishes start in commit order."""
        plan, deliveries = committed.plan, committed.deliveries
        work = asyncio.gather(
            self._cache_states(plan), self._outbox.announce(plan.outcomes, deliveries)
        )
        try:
            if after is not None:
                await after
        except BaseException:
            # The previous finish failed (which ends the writer) or this one is cancelled:
            # this batch is never acked, so its work stops here, and its error, if any, is
            # retrieved rather than left to the garbage collector.
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
            raise
        _, announced = await work
        self._outbox.record(committed.outbox_batch_id, announced)
        if ack:
            await delivery.ack(deliveries)

    async def _settle_refused(
        self, parsed: list[Parsed], stop: asyncio.Event, error: BaseException
    ) -> None:
        """Find what PostgreSQL refuses in a refused batch: apply it again delivery by delivery
        (a batch message transaction by transaction), in order; commit, cache, announce and ack
        what it accepts, and dead-letter a delivery it refuses."""
        groups: dict[int, list[Parsed]] = {}
        for one in parsed:
            groups.setdefault(id(one[0]), []).append(one)
        if len(groups) > 1:
            for group in groups.values():
                await self._settle(group, stop)
            return
        if len(parsed) == 1:
            reason = f"refused by the database: {error!r}"
            await delivery.dead_letter(parsed[0][0], self.partition, reason)
            return
        await self._settle_batch_message(parsed, stop)

    async def _settle(self, parsed: list[Parsed], stop: asyncio.Event) -> None:
        """Commit, cache, announce and ack one delivery's transactions, or find what PostgreSQL
        refuses among them."""
        try:
            committed = await self._committer.commit(parsed, stop)
        except REFUSED_BY_DATABASE as error:
            await self._settle_refused(parsed, stop, error)
            return
        if committed is not None:
            await self._finish(committed)

    async def _settle_batch_message(self, parsed: list[Parsed], stop: asyncio.Event) -> None:
        """Commit a refused batch message's transactions one by one, each cached and announced;
        ack the message if the database accepts them all, or dead-letter it whole."""
        received = parsed[0][0]
        refused: list[str] = []
        for one in parsed:
            try:
                committed = await self._committer.commit([one], stop)
            except REFUSED_BY_DATABASE as refusal:
                refused.append(f"{one[1].id}: {refusal!r}")
                continue
            if committed is None:
                return  # stopping: nothing acked, the redelivery finds the rest applied
            await self._finish(committed, ack=False)
        if not refused:  # refused together, accepted one by one
            await delivery.ack([received])
            return
        await delivery.dead_letter(
            received, self.partition, f"refused by the database: {'; '.join(refused)}"
        )

    async def _cache_states(self, plan: BatchPlan) -> None:
        states = [(o.message.project_id, o.message.id, o.body) for o in plan.outcomes if o.recorded]
        states.extend(plan.restated)  # the transactions the batch reversed, as they are now
        try:
            await self._cache.put_many(states)
        except CacheUnavailable:
            log.warning(
                "partition %s: status cache unavailable; reads fall back to PostgreSQL",
                self.partition,
            )
