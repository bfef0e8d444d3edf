"""`python -m bench.search`: the latency of filtered first pages and of balances in time on a
project with many transactions (docs/decisions/0019-search-and-filters.md).

The history is written straight into PostgreSQL with `generate_series`, in slices, as the
writer would have left it: each transaction a Transfer of 1 from a treasury to one of the
customer wallets in turn (1 in 100 Failed, without entries), a Debit and a Credit entry with
their balances after, 1 in 10 with metadata (`orderId`, and `channel` web or shop), one
transaction a millisecond. A tenth of the wallets and customers have metadata, 1 in 100 are
Suspended. Then one `cloudwallet gateway` process serves the project, and each query is sent
`--samples` times, one at a time, with its parameters drawn at random: p50 and p99 of the
answer's latency (a whole 200 answer with its page of 50)."""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import asyncpg

from bench.environment import bench_parser, bench_settings, load_average, reset
from bench.processes import Service
from bench.seed import BenchLedger, create_ledger
from shared.settings import Settings

SLICE_TRANSACTIONS = 100_000
TREASURY_BALANCE = 10**15
# 2025-01-01T00:00:00Z: the first transaction's time; one transaction a millisecond after it.
START_MS = 1_735_689_600_000

SEED_SLICE = """
WITH numbered AS (
  SELECT i, w.id AS wallet, to_timestamp(($3::bigint + i) / 1000.0) AS moment
  FROM generate_series($1::bigint, $2::bigint) AS i
  JOIN (
    SELECT id, row_number() OVER (ORDER BY id) - 1 AS position
    FROM wallets WHERE project_id = $4 AND customer_id IS NOT NULL
  ) w ON w.position = i % $7
), made AS (
  INSERT INTO transactions (id, project_id, reference_id, request_digest, status, operations,
                            failure, metadata, created_at, completed_at)
  SELECT 't' || lpad(i::text, 12, '0'), $4, 'r' || i, '\\x00'::bytea,
         CASE WHEN i % 100 = 0 THEN 'Failed' ELSE 'Completed' END,
         jsonb_build_array(jsonb_build_object('type', 'Transfer', 'from', $5::text,
           'to', wallet, 'amount', '1')),
         CASE WHEN i % 100 = 0 THEN jsonb_build_object('operationIndex', 0,
           'code', 'WalletNotOpen', 'message', 'seeded') END,
         CASE WHEN i % 10 = 0 THEN jsonb_build_object('orderId', 'o' || i,
           'channel', CASE WHEN i % 20 = 0 THEN 'web' ELSE 'shop' END) END,
         moment, moment
  FROM numbered
)
INSERT INTO entries (wallet_id, transaction_id, operation_index, type, amount, balance_after,
                     counterparty_wallet_id, held_after, created_at)
SELECT e.wallet_id, 't' || lpad(i::text, 12, '0'), 0, e.type, 1, e.balance_after,
       e.counterparty, 0, moment
FROM numbered
CROSS JOIN LATERAL (VALUES
  (1, $5::text, 'Debit', $6::numeric - i, wallet),
  (2, wallet, 'Credit', (i / $7 + 1)::numeric, $5::text)
) AS e(position, wallet_id, type, balance_after, counterparty)
WHERE i % 100 <> 0
ORDER BY i, e.position
"""
LABELS = """
UPDATE wallets SET metadata = jsonb_build_object('tier', CASE WHEN n % 20 = 0 THEN 'gold'
                                                         ELSE 'silver' END),
                   status = CASE WHEN n % 100 = 0 THEN 'Suspended' ELSE status END
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM wallets WHERE project_id = $1) w
WHERE wallets.id = w.id AND (w.n % 10 = 0 OR w.n % 100 = 0);
UPDATE customers SET metadata = jsonb_build_object('segment', 'vip'),
                     status = CASE WHEN n % 100 = 0 THEN 'Suspended' ELSE status END
FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM customers WHERE project_id = $1) c
WHERE customers.project_id = $1 AND customers.id = c.id AND c.n % 10 = 0;
"""


async def seed(settings: Settings, ledger: BenchLedger, transactions: int) -> str:
    """The history of `transactions` transactions; the treasury's id."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        treasury = "treasury-" + ledger.project_id
        await connection.execute(
            "INSERT INTO wallets (id, project_id, asset_id, type, balance)"
            " VALUES ($1, $2, $3, 'system', $4)",
            treasury,
            ledger.project_id,
            ledger.asset_id,
            TREASURY_BALANCE,
        )
        for first in range(1, transactions + 1, SLICE_TRANSACTIONS):
            last = min(first + SLICE_TRANSACTIONS - 1, transactions)
            started = time.monotonic()
            await connection.execute(
                SEED_SLICE,
                first,
                last,
                START_MS,
                ledger.project_id,
                treasury,
                TREASURY_BALANCE,
                len(ledger.wallets),
                timeout=None,
            )
            print(f"  transactions {first:,}-{last:,} in {time.monotonic() - started:.0f} s")
        for statement in LABELS.strip().split(";\n"):
            await connection.execute(statement, ledger.project_id)
        # Opened before the history starts, so that every instant of it has a balance.
        await connection.execute(
            "UPDATE wallets SET created_at = to_timestamp($2::bigint / 1000.0 - 60)"
            " WHERE project_id = $1",
            ledger.project_id,
            START_MS,
        )
        await connection.execute("ANALYZE", timeout=None)
    finally:
        await connection.close()
    return treasury


def queries(
    ledger: BenchLedger, treasury: str, transactions: int
) -> dict[str, Callable[[random.Random], str]]:
    """Each measured request, its parameters drawn from `random`."""
    base = f"/projects/{ledger.project_id}"
    wallets = ledger.wallets

    def instant(draw: random.Random) -> int:
        return START_MS + draw.randrange(transactions)

    return {
        "transactions (no filter)": lambda draw: f"{base}/transactions",
        "transactions?walletId=<customer wallet>": lambda draw: (
            f"{base}/transactions?walletId={draw.choice(wallets)}"
        ),
        "transactions?walletId=<treasury>": lambda draw: f"{base}/transactions?walletId={treasury}",
        "transactions?referenceId=": lambda draw: (
            f"{base}/transactions?referenceId=r{draw.randrange(1, transactions)}"
        ),
        "transactions?status=Failed": lambda draw: f"{base}/transactions?status=Failed",
        "transactions?metadata[orderId]=<one>": lambda draw: (
            f"{base}/transactions?metadata[orderId]=o{10 * draw.randrange(1, transactions // 10)}"
        ),
        "transactions?metadata[channel]=web (5%)": lambda draw: (
            f"{base}/transactions?metadata[channel]=web"
        ),
        "transactions?walletId&status&from&to (1 min)": lambda draw: (
            f"{base}/transactions?walletId={draw.choice(wallets)}&status=Completed"
            f"&from={(start := instant(draw))}&to={start + 60_000}"
        ),
        "wallets?metadata[tier]=gold": lambda draw: f"{base}/wallets?metadata[tier]=gold",
        "wallets?status=Suspended": lambda draw: f"{base}/wallets?status=Suspended",
        "wallets?type=system": lambda draw: f"{base}/wallets?type=system",
        "customers?status=Suspended": lambda draw: f"{base}/customers?status=Suspended",
        "customers?metadata[segment]=vip": lambda draw: f"{base}/customers?metadata[segment]=vip",
        "entries <customer wallet>": lambda draw: f"{base}/wallets/{draw.choice(wallets)}/entries",
        "entries <treasury>": lambda draw: f"{base}/wallets/{treasury}/entries",
        "entries?order=asc&from <treasury>": lambda draw: (
            f"{base}/wallets/{treasury}/entries?order=asc&from={instant(draw)}"
        ),
        "balance?at=<customer wallet>": lambda draw: (
            f"{base}/wallets/{draw.choice(wallets)}/balance?at={instant(draw)}"
        ),
        "balance?at=<treasury>": lambda draw: (
            f"{base}/wallets/{treasury}/balance?at={instant(draw)}"
        ),
    }


async def measure(
    url: str, api_key: str, requests: dict[str, Callable[[random.Random], str]], samples: int
) -> None:
    draw = random.Random(20250131)
    headers = {"Authorization": f"Bearer {api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for name, path_of in requests.items():
            latencies_ms = []
            for _ in range(samples):
                path = path_of(draw)
                started = time.perf_counter()
                async with session.get(url + path) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"{path} answered {response.status}")
                latencies_ms.append((time.perf_counter() - started) * 1000)
            cuts = statistics.quantiles(latencies_ms, n=100)
            print(f"  {name:48} p50 {cuts[49]:7.2f} ms   p99 {cuts[98]:7.2f} ms")


async def main() -> None:
    parser = bench_parser("python -m bench.search", __doc__, partitions=4)
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--wallets", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.set_defaults(namespace="benchsearch", redis_db=6)
    arguments = parser.parse_args()
    settings = bench_settings(
        arguments.namespace, arguments.redis_db, partition_count=arguments.partitions
    )
    print(f"load average at start: {load_average()}")
    await reset(settings)
    ledger = await create_ledger(settings, arguments.wallets)
    started = time.monotonic()
    treasury = await seed(settings, ledger, arguments.transactions)
    print(
        f"seeded {arguments.transactions:,} transactions over {arguments.wallets:,} wallets"
        f" in {time.monotonic() - started:.0f} s; load average {load_average()}"
    )
    with tempfile.TemporaryDirectory() as log_dir:
        gateway = Service.start("gateway", settings, Path(log_dir), "search")
        try:
            url = f"http://127.0.0.1:{settings.http_port}"
            requests = queries(ledger, treasury, arguments.transactions)
            await measure(url, ledger.api_key, requests, arguments.samples)
        finally:
            gateway.stop()
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    asyncio.run(main())
