"""The ledger the benchmark loads: one tenant, one project, one asset and many customer wallets,
created with COPY, then funded through the service itself (Issue operations on the batch
route), so that every balance has its entries like any other."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp
import asyncpg

from shared.ids import new_id
from shared.ops.keys import create_key
from shared.settings import Settings

FUNDING_PER_WALLET = 10**12
FUNDING_BATCH_SIZE = 1000
FUNDING_TIMEOUT_S = 300


@dataclass(frozen=True)
class BenchLedger:
    api_key: str
    project_id: str
    asset_id: str
    wallets: list[str]


async def create_ledger(
    settings: Settings, wallet_count: int, project_id: str | None = None, name: str = "bench"
) -> BenchLedger:
    """A tenant named `name` with one project (`project_id`, or a new one), one asset and
    `wallet_count` customer wallets."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        async with connection.transaction():
            tenant_id, asset_id = new_id(), new_id()
            project_id = project_id or new_id()
            await connection.execute(
                "INSERT INTO tenants (id, name) VALUES ($1, $2)", tenant_id, name
            )
            api_key = await create_key(connection, tenant_id)
            await connection.execute(
                "INSERT INTO projects (id, tenant_id, name) VALUES ($1, $2, 'bench')",
                project_id,
                tenant_id,
            )
            await connection.execute(
                "INSERT INTO assets (id, project_id, name, code, fractions)"
                " VALUES ($1, $2, 'Points', 'PTS', 100)",
                asset_id,
                project_id,
            )
            customers = [(project_id, f"customer-{number}") for number in range(wallet_count)]
            await connection.copy_records_to_table(
                "customers", records=customers, columns=("project_id", "id")
            )
            wallets = [new_id() for _ in range(wallet_count)]
            await connection.copy_records_to_table(
                "wallets",
                records=[
                    (wallet_id, project_id, asset_id, customer_id, "customer")
                    for wallet_id, (_, customer_id) in zip(wallets, customers, strict=True)
                ],
                columns=("id", "project_id", "asset_id", "customer_id", "type"),
            )
            # The wallets the asset's totals count (the gateway counts each one it opens; these
            # are copied in behind its back), so that `verify` finds the ledger consistent.
            await connection.execute(
                "INSERT INTO asset_totals (asset_id, project_id, wallet_count) VALUES ($1, $2, $3)",
                asset_id,
                project_id,
                wallet_count,
            )
    finally:
        await connection.close()
    return BenchLedger(api_key, project_id, asset_id, wallets)


async def fund(settings: Settings, ledger: BenchLedger) -> None:
    """Issue FUNDING_PER_WALLET to every wallet through the batch route and wait until applied."""
    base = f"http://{settings.http_host}:{settings.http_port}"
    path = f"/projects/{ledger.project_id}/transactions/batch"
    headers = {"Authorization": f"Bearer {ledger.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        for start in range(0, len(ledger.wallets), FUNDING_BATCH_SIZE):
            items = [
                {
                    "referenceId": f"fund-{wallet_id}",
                    "operations": [
                        {"type": "Issue", "to": wallet_id, "amount": str(FUNDING_PER_WALLET)}
                    ],
                }
                for wallet_id in ledger.wallets[start : start + FUNDING_BATCH_SIZE]
            ]
            async with session.post(base + path, json={"transactions": items}) as response:
                answer = await response.json()
                if response.status != 202 or answer["rejected"]:
                    raise RuntimeError(f"funding was refused: {response.status} {answer}")
    await wait_for_transactions(settings, ledger.project_id, len(ledger.wallets))


async def wait_for_transactions(
    settings: Settings, project_id: str, count: int, timeout_s: float = FUNDING_TIMEOUT_S
) -> None:
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stored = await connection.fetchval(
                "SELECT count(*) FROM transactions WHERE project_id = $1", project_id
            )
            if stored >= count:
                return
            await asyncio.sleep(0.2)
    finally:
        await connection.close()
    raise RuntimeError(f"fewer than {count} transactions were applied in {timeout_s} s")
