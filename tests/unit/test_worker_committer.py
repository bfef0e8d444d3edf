"""A writer's committer counts the batches it commits and keeps nothing per batch: after a
thousand commits it holds no more than after one (the database's part is faked here, and
tested against the real PostgreSQL in tests/integration/test_plan_ahead.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.settings import Settings
from worker.batch import BatchPlan
from worker.committer import Committer
from worker.failpoints import FailPoint
from worker.outbox import Outbox

BATCHES = 1_000


@dataclass
class Received:
    """What a committer reads of a delivery."""

    redelivered: bool = False


def held(committer: Committer) -> dict[str, int]:
    """The size of every collection the committer holds."""
    return {
        name: len(value)
        for name, value in vars(committer).items()
        if isinstance(value, list | dict | set)
    }


async def test_a_committer_counts_its_batches_and_keeps_nothing_per_batch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, failpoint = Settings(), FailPoint("")
    outbox = Outbox(0, settings, None, None, failpoint)  # type: ignore[arg-type]
    committer = Committer(0, settings, None, outbox, failpoint)  # type: ignore[arg-type]

    async def applied(*_: Any) -> tuple[BatchPlan, None]:
        return BatchPlan(datetime.now(UTC)), None

    monkeypatch.setattr(committer, "_apply", applied)
    parsed: list[Any] = [(Received(), None)]
    await committer.commit(parsed, asyncio.Event())
    after_one = held(committer)
    for _ in range(BATCHES - 1):
        await committer.commit(parsed, asyncio.Event())
    assert held(committer) == after_one
    assert committer.batches_committed == BATCHES
