"""The SQL baselines, on the same PostgreSQL, tables and wallets as the service:

(a) per transfer, pgledger style: one function call per transfer that locks both wallets
    FOR UPDATE in id order, updates both balances, and inserts the transaction row and its two
    entries; 20 concurrent connections, each transfer its own commit.
(b) the same writes set-based, 1,000 transfers per transaction from one connection: lock every
    touched wallet in one statement in id order, then insert the transaction rows and the
    entries and update the balances with unnest, in the worker's own statement. The arithmetic
    is done by the client with no validation at all: this is the database's own limit for these
    writes.

These are comparisons, not part of the service: the balance updates here exist only to measure
what plain SQL achieves on the same machine."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson

from bench.workload import AMOUNT_MAX, Distribution, WalletPicker
from shared.ids import new_id
from worker.batch import BatchPlan
from worker.store import SAVE_BATCH, save_batch_arguments

PGLEDGER_TRANSFER = """
CREATE OR REPLACE FUNCTION bench_pgledger_transfer(
    p_id text, p_project_id text, p_reference_id text, p_from text, p_to text,
    p_amount numeric, p_operations jsonb, p_digest bytea
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_from_balance numeric;
    v_to_balance numeric;
    v_now timestamptz := clock_timestamp();
BEGIN
    PERFORM 1 FROM wallets WHERE id IN (p_from, p_to) ORDER BY id FOR UPDATE;
    UPDATE wallets SET balance = balance - p_amount, updated_at = v_now
    WHERE id = p_from RETURNING balance INTO v_from_balance;
    UPDATE wallets SET balance = balance + p_amount, updated_at = v_now
    WHERE id = p_to RETURNING balance INTO v_to_balance;
    INSERT INTO transactions (id, project_id, reference_id, request_digest, status, operations,
                              created_at, completed_at)
    VALUES (p_id, p_project_id, p_reference_id, p_digest, 'Completed', p_operations,
            v_now, v_now);
    INSERT INTO entries (wallet_id, transaction_id, operation_index, type, amount,
                         balance_after, counterparty_wallet_id, created_at)
    VALUES (p_from, p_id, 0, 'Debit', p_amount, v_from_balance, p_to, v_now),
           (p_to, p_id, 0, 'Credit', p_amount, v_to_balance, p_from, v_now);
END $$
"""
CALL_TRANSFER = "SELECT bench_pgledger_transfer($1, $2, $3, $4, $5, $6, $7, $8)"
LOCK_WALLETS = (
    "SELECT id, balance::text FROM wallets WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
)


@dataclass(frozen=True)
class BaselineResult:
    name: str
    transfers: int
    elapsed_s: float

    @property
    def rate_per_s(self) -> float:
        return self.transfers / self.elapsed_s


@dataclass(frozen=True)
class Transfer:
    id: str
    reference_id: str
    source: str
    target: str
    amount: int

    def operations(self) -> list[dict[str, Any]]:
        return [
            {"type": "Transfer", "from": self.source, "to": self.target, "amount": str(self.amount)}
        ]


def _transfers(
    picker: WalletPicker, count: int, prefix: str, generator: random.Random
) -> list[Transfer]:
    return [
        Transfer(new_id(), f"{prefix}-{number}", source, target, generator.randint(1, AMOUNT_MAX))
        for number, (source, target) in enumerate(picker.pairs(count, generator))
    ]


def _digest(operations: list[dict[str, Any]]) -> bytes:
    return hashlib.sha256(orjson.dumps(operations, option=orjson.OPT_SORT_KEYS)).digest()


async def per_transfer(
    database_url: str,
    project_id: str,
    wallets: list[str],
    *,
    connections: int,
    duration_s: float,
    transfers_max: int,
    seed: int,
    distribution: Distribution = "uniform",
) -> BaselineResult:
    """Baseline (a): each connection commits one transfer at a time until the time is up."""
    setup = await asyncpg.connect(database_url)
    try:
        await setup.execute(PGLEDGER_TRANSFER)
    finally:
        await setup.close()
    prefix = "baseline-a" if distribution == "uniform" else f"baseline-a-{distribution}"
    transfers = _transfers(
        WalletPicker(wallets, distribution), transfers_max, prefix, random.Random(seed)
    )
    pool = await asyncpg.create_pool(database_url, min_size=connections, max_size=connections)
    next_index = 0
    done = 0
    started = time.monotonic()
    deadline = started + duration_s

    async def client() -> None:
        nonlocal next_index, done
        async with pool.acquire() as connection:
            while time.monotonic() < deadline and next_index < len(transfers):
                transfer = transfers[next_index]
                next_index += 1
                operations = transfer.operations()
                await connection.execute(
                    CALL_TRANSFER,
                    transfer.id,
                    project_id,
                    transfer.reference_id,
                    transfer.source,
                    transfer.target,
                    transfer.amount,
                    orjson.dumps(operations).decode(),
                    _digest(operations),
                )
                done += 1

    try:
        await asyncio.gather(*(client() for _ in range(connections)))
        elapsed = time.monotonic() - started
    finally:
        await pool.close()
    wallets_text = "" if distribution == "uniform" else f", {distribution} wallets"
    return BaselineResult(
        f"a: per-transfer SQL, {connections} connections{wallets_text}", done, elapsed
    )


async def set_based(
    database_url: str,
    project_id: str,
    wallets: list[str],
    *,
    batch_size: int,
    batches: int,
    seed: int,
) -> BaselineResult:
    """Baseline (b): `batches` transactions of `batch_size` transfers from one connection."""
    generator = random.Random(seed)
    picker = WalletPicker(wallets, "uniform")
    work = [
        _transfers(picker, batch_size, f"baseline-b-{number}", generator)
        for number in range(batches)
    ]
    connection = await asyncpg.connect(database_url)
    try:
        started = time.monotonic()
        for batch in work:
            await _apply_set_based(connection, project_id, batch)
        elapsed = time.monotonic() - started
    finally:
        await connection.close()
    return BaselineResult(
        f"b: set-based SQL, {batch_size} per transaction, 1 connection",
        batch_size * batches,
        elapsed,
    )


async def _apply_set_based(
    connection: asyncpg.Connection, project_id: str, batch: list[Transfer]
) -> None:
    touched = sorted({t.source for t in batch} | {t.target for t in batch})
    now = datetime.now(UTC)
    async with connection.transaction():
        rows = await connection.fetch(LOCK_WALLETS, touched)
        balances = {row["id"]: int(row["balance"]) for row in rows}
        entries = []
        for transfer in batch:
            balances[transfer.source] -= transfer.amount
            balances[transfer.target] += transfer.amount
            entries.append(
                (transfer.source, transfer.id, 0, "Debit", transfer.amount,
                 balances[transfer.source], transfer.target)
            )  # fmt: skip
            entries.append(
                (transfer.target, transfer.id, 0, "Credit", transfer.amount,
                 balances[transfer.target], transfer.source)
            )  # fmt: skip
        transactions = [
            (t.id, project_id, t.reference_id, _digest(t.operations()), "Completed",
             t.operations(), None, now)
            for t in batch
        ]  # fmt: skip
        plan = BatchPlan(
            applied_at=now,
            transactions=transactions,
            entries=entries,
            balances=balances,
        )
        # The worker's statement and its encoding of the arguments, with no events outbox row.
        await connection.execute(SAVE_BATCH, *save_batch_arguments(plan, 0, ("", []), []))
