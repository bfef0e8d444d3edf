"""Submit a transaction from an internal service over AMQP alone, and wait for its final state.

    .venv/bin/python examples/publish.py PROJECT_ID WALLET_ID

Reads the same CLOUDWALLET_* variables as the service (defaults: the local broker)."""

from __future__ import annotations

import asyncio
import sys

from shared.amqp.client import TransactionClient
from shared.ids import new_id
from shared.settings import load_settings


async def main(project_id: str, wallet_id: str) -> None:
    client = await TransactionClient.open(load_settings())
    try:
        final = await client.submit_and_wait(
            project_id,
            reference_id=f"example-{new_id()}",
            operations=[{"type": "Issue", "to": wallet_id, "amount": "100"}],
            timeout_s=30,
        )
        print(final)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
