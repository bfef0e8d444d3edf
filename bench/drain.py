"""The worker drain scenarios: with no worker running, queue N one-transfer transactions on the
project's partition (as an internal publisher would, with confirms), each in a message of its
own or `batch_size` to a batch message, then start the worker and time it until every
transaction is committed."""

from __future__ import annotations

import asyncio
import collections
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiormq
import asyncpg
import orjson
from pamqp import commands as spec

from bench.seed import BenchLedger
from bench.workload import AMOUNT_MAX, WalletPicker
from shared.amqp.broker import TRANSACTIONS_EXCHANGE
from shared.contract import messages
from shared.contract.messages import TRANSACTION_BATCH_TYPE, format_time
from shared.contract.partition import partition_of, queue_name, routing_key
from shared.ids import new_id
from shared.settings import Settings

CONFIRM_WINDOW = 2000
CHUNK = 10_000
DRAIN_TIMEOUT_S = 1800
POLL_INTERVAL_S = 0.5


@dataclass(frozen=True)
class Queued:
    messages: int
    elapsed_s: float


async def queue_messages(
    settings: Settings,
    project_id: str,
    picker: WalletPicker,
    count: int,
    prefix: str,
    seed: int,
    batch_size: int = 1,
    holds: bool = False,
) -> Queued:
    """Publish `count` one-transfer transactions to the project's partition, confirms
    pipelined, in messages of their own or (`batch_size` > 1) `batch_size` at a time in the
    batch messages the gateway would publish for them (`message_bytes_max` each); their
    reference IDs are `<prefix>-<n>`. With `holds`, the transactions are Holds (of a transfer)
    each followed by its Capture, every other one partial (half the hold)."""
    generator = random.Random(seed)
    key = routing_key(partition_of(project_id, settings.partition_count))
    single = spec.Basic.Properties(content_type="application/json", delivery_mode=2)
    batch = spec.Basic.Properties(
        content_type="application/json", delivery_mode=2, message_type=TRANSACTION_BATCH_TYPE
    )
    transactions: list[dict[str, object]] = []
    held = ("", 0)  # the last hold's id and amount
    connection = await aiormq.connect(settings.amqp_url.get_secret_value())
    started = time.monotonic()
    try:
        channel = await connection.channel(publisher_confirms=True)
        submitted_at = format_time(datetime.now(UTC))
        # Confirms come back in publish order: waiting on the oldest keeps the window full.
        pending: collections.deque[asyncio.Future[object]] = collections.deque()
        for start in range(0, count, CHUNK):
            for number, (source, target) in enumerate(
                picker.pairs(min(CHUNK, count - start), generator), start
            ):
                transaction_id = new_id()
                amount = generator.randint(1, AMOUNT_MAX)
                if not holds:
                    operation = {"type": "Transfer", "from": source, "to": target}
                elif number % 2 == 0:  # a hold, captured by the next transaction
                    operation = {"type": "Hold", "from": source, "to": target}
                    held = (messages.hold_id(transaction_id, 0), amount)
                else:  # every other capture partial
                    held_id, held_amount = held
                    operation = {"type": "Capture", "holdId": held_id}
                    amount = (
                        held_amount // 2 if number % 4 == 3 and held_amount > 1 else held_amount
                    )
                transaction = {
                    "v": 1,
                    "id": transaction_id,
                    "projectId": project_id,
                    "referenceId": f"{prefix}-{number}",
                    "operations": [{**operation, "amount": str(amount)}],
                    "submittedAt": submitted_at,
                }
                if batch_size == 1:
                    outgoing = [(orjson.dumps(transaction), single)]
                else:
                    transactions.append(transaction)
                    if len(transactions) < batch_size and number < count - 1:
                        continue
                    packed = messages.queue_messages(transactions, settings.message_bytes_max)
                    outgoing = [(m.body, batch if m.batch else single) for m in packed]
                    transactions = []
                for body, properties in outgoing:
                    publish = channel.basic_publish(
                        body, exchange=TRANSACTIONS_EXCHANGE, routing_key=key, properties=properties
                    )
                    pending.append(asyncio.ensure_future(publish))
                    if len(pending) >= CONFIRM_WINDOW:
                        _check_confirm(await pending.popleft())
        while pending:
            _check_confirm(await pending.popleft())
    finally:
        await connection.close()
    return Queued(count, time.monotonic() - started)


async def queue_over_projects(
    settings: Settings, ledgers: Sequence[BenchLedger], per_project: int, prefix: str, rounds: int
) -> Queued:
    """Queue `per_project` one-transfer messages (uniform wallets) for every project, in
    `rounds` rounds over the projects so that every partition's queue grows alike. Reference
    IDs are `<prefix>-r<round>-<n>`; the time is the time spent publishing."""
    queued_s = 0.0
    queued = 0
    for round_number in range(rounds):
        share = per_project // rounds + (round_number < per_project % rounds)
        if not share:
            continue
        for number, ledger in enumerate(ledgers):
            picker = WalletPicker(ledger.wallets, "uniform")
            done = await queue_messages(
                settings,
                ledger.project_id,
                picker,
                share,
                f"{prefix}-r{round_number}",
                seed=round_number * len(ledgers) + number,
            )
            queued += done.messages
            queued_s += done.elapsed_s
    return Queued(queued, queued_s)


def _check_confirm(result: object) -> None:
    if not isinstance(result, spec.Basic.Ack):
        raise RuntimeError(f"the broker did not accept a drain message: {result!r}")


async def queue_depth(settings: Settings, project_ids: Sequence[str]) -> int:
    connection = await aiormq.connect(settings.amqp_url.get_secret_value())
    try:
        return await _depth(await connection.channel(), settings, project_ids)
    finally:
        await connection.close()


async def _depth(
    channel: aiormq.abc.AbstractChannel, settings: Settings, project_ids: Sequence[str]
) -> int:
    """The ready messages of the partition queues of `project_ids`, added up."""
    partitions = {partition_of(project_id, settings.partition_count) for project_id in project_ids}
    depth = 0
    for partition in sorted(partitions):
        declared = await channel.queue_declare(queue_name(partition), passive=True)
        depth += int(declared.message_count or 0)
    return depth


async def wait_queue_empty(
    settings: Settings, project_ids: Sequence[str], timeout_s: float
) -> float:
    """Wait until the partition queues of `project_ids` have no ready message; the seconds it
    took."""
    started = time.monotonic()
    connection = await aiormq.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel()
        while time.monotonic() - started < timeout_s:
            if await _depth(channel, settings, project_ids) == 0:
                return time.monotonic() - started
            await asyncio.sleep(POLL_INTERVAL_S)
    finally:
        await connection.close()
    raise RuntimeError(f"the partition queues did not empty in {timeout_s} s")


@dataclass(frozen=True)
class Drained:
    messages: int
    wall_s: float  # from the worker's start to the last commit seen
    commit_span_s: float  # from the first commit to the last
    first_batch: int
    first_commit_wall_s: float

    @property
    def rate_per_s(self) -> float:
        """Messages per second from the first commit to the last."""
        return (self.messages - self.first_batch) / self.commit_span_s

    @property
    def wall_rate_per_s(self) -> float:
        return self.messages / self.wall_s


async def wait_drained(
    settings: Settings,
    project_ids: Sequence[str],
    prefix: str,
    count: int,
    worker_started_wall_s: float,
) -> Drained:
    """Wait until all `count` messages of `prefix` (over the projects `project_ids`) are
    committed; time them by their commit times (`completed_at`, the time each batch was
    planned, just before its commit)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    # The queue's depth is a cheap question; counting the applied rows scans the table, so it
    # is asked only once the queue is empty, not while the worker competes for the database.
    await wait_queue_empty(settings, project_ids, DRAIN_TIMEOUT_S)
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        while time.monotonic() < deadline:
            stored = await connection.fetchval(
                "SELECT count(*) FROM transactions"
                " WHERE project_id = ANY($1) AND reference_id LIKE $2",
                list(project_ids),
                prefix + "-%",
            )
            if stored >= count:
                break
            await asyncio.sleep(POLL_INTERVAL_S)
        else:
            raise RuntimeError(f"the worker did not drain {count} messages in time")
        row = await connection.fetchrow(
            "SELECT min(completed_at) AS first, max(completed_at) AS last,"
            " count(*) FILTER (WHERE completed_at = (SELECT min(completed_at) FROM transactions"
            "   WHERE project_id = ANY($1) AND reference_id LIKE $2)) AS first_batch"
            " FROM transactions WHERE project_id = ANY($1) AND reference_id LIKE $2",
            list(project_ids),
            prefix + "-%",
        )
    finally:
        await connection.close()
    if row is None:
        raise RuntimeError("the drain transactions could not be read back")
    first, last = row["first"].timestamp(), row["last"].timestamp()
    return Drained(
        count, last - worker_started_wall_s, max(last - first, 1e-6), row["first_batch"], first
    )


async def committed_since(
    settings: Settings, project_ids: Sequence[str], prefix: str, since_wall_s: float
) -> tuple[int, float]:
    """The transactions of `prefix` committed at or after `since_wall_s`, and the last commit
    (wall clock)."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS committed, extract(epoch FROM max(completed_at))::float8 AS last"
            " FROM transactions WHERE project_id = ANY($1) AND reference_id LIKE $2"
            " AND completed_at >= to_timestamp($3)",
            list(project_ids),
            prefix + "-%",
            since_wall_s,
        )
    finally:
        await connection.close()
    if row is None or not row["committed"]:
        return 0, since_wall_s
    return int(row["committed"]), float(row["last"])
