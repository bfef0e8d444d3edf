"""Faults on purpose, for the fault tests (tests/faults/) only: production never sets
`CLOUDWALLET_FAILPOINT`. A writer reads it once, when it starts, and its committer and outbox
call the fail point at the moments a real fault would strike: before and after a commit, when a
commit's answer comes back, and when a batch's events are published."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass
from typing import ClassVar

import asyncpg

from shared.errors import InvariantViolation

log = logging.getLogger(__name__)
FAILPOINT_ENV = "CLOUDWALLET_FAILPOINT"
FAILPOINT_EXIT_CODE = 137
FAILPOINT_HOLD_S = 0.3
FAILPOINT_DROPPED_BATCHES_MAX = 3
FAILPOINT_LOST_COMMITS_MAX = 3
FAILPOINT_WRITER_ERRORS_MAX = 2


@dataclass
class FailPoint:
    """Faults on purpose, for the fault tests only; production never sets the variable.
    `CLOUDWALLET_FAILPOINT=after-commit-before-ack` ends the process right after a batch
    commits and before its ack; `hold-transaction` keeps each batch's transaction (and its
    partition lock) open a moment before the commit, so that a test can pause the process
    while it holds them; `drop-events` fails the event publishes of the first batches;
    `lose-commits` fails the first batches after their commit, as a connection that breaks
    while the commit's answer is on its way would; `writer-error` ends the process's first
    writers with an unexpected error right after a commit, and `break-invariant` the first
    one with an InvariantViolation."""

    name: str
    dropped: int = 0
    lost: int = 0
    writer_errors: ClassVar[int] = 0

    @classmethod
    def from_environment(cls) -> FailPoint:
        return cls(os.environ.get(FAILPOINT_ENV, ""))

    async def before_commit(self, partition: int) -> None:
        if self.name == "hold-transaction":
            log.warning("fail point: holding the transaction of partition %s open", partition)
            await asyncio.sleep(FAILPOINT_HOLD_S)

    def drop_events(self, partition: int) -> bool:
        """`drop-events`: the first `FAILPOINT_DROPPED_BATCHES_MAX` batches' events are not
        published, as if the broker had refused them, so that the outbox relays them."""
        if self.name != "drop-events" or self.dropped >= FAILPOINT_DROPPED_BATCHES_MAX:
            return False
        self.dropped += 1
        log.warning("fail point: dropping the events of a batch of partition %s", partition)
        return True

    def lose_commit(self, partition: int) -> None:
        """`lose-commits`: the first `FAILPOINT_LOST_COMMITS_MAX` commits raise a connection
        error once done, so that the writer retries a batch that is already applied."""
        if self.name != "lose-commits" or self.lost >= FAILPOINT_LOST_COMMITS_MAX:
            return
        self.lost += 1
        log.warning("fail point: losing the answer of a commit of partition %s", partition)
        raise asyncpg.ConnectionDoesNotExistError("fail point: the commit's answer was lost")

    def after_commit(self, partition: int, batch_size: int) -> None:
        if self.name == "writer-error" and FailPoint.writer_errors < FAILPOINT_WRITER_ERRORS_MAX:
            FailPoint.writer_errors += 1  # of the process: each new writer has a new FailPoint
            raise RuntimeError(f"fail point: a writer error after a commit on {partition}")
        if self.name == "break-invariant":
            raise InvariantViolation(f"fail point: an invariant broken on partition {partition}")
        if self.name == "after-commit-before-ack":
            log.warning(
                "fail point: exiting after committing a batch of %s on partition %s, before"
                " its ack",
                batch_size,
                partition,
            )
            logging.shutdown()
            sys.stdout.flush()
            os._exit(FAILPOINT_EXIT_CODE)
