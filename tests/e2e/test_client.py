"""An internal service with no HTTP access: publish and wait for the final state over AMQP
alone, through the worker process, including a repeated reference ID."""

from __future__ import annotations

from shared.amqp.client import TransactionClient
from shared.settings import Settings
from tests.support import Ledger


async def test_submit_and_wait_over_amqp(e2e_ledger: Ledger, process_settings: Settings) -> None:
    wallet = await e2e_ledger.system_wallet()
    client = await TransactionClient.open(process_settings)
    try:
        issue = [{"type": "Issue", "to": wallet, "amount": "30"}]
        final = await client.submit_and_wait(e2e_ledger.project_id, "svc-1", issue)
        assert (final["status"], final["referenceId"]) == ("Completed", "svc-1")
        failed = await client.submit_and_wait(
            e2e_ledger.project_id, "svc-2", [{"type": "Redeem", "from": wallet, "amount": "31"}]
        )
        assert failed["failure"]["code"] == "InsufficientFunds"
        again = await client.submit_and_wait(e2e_ledger.project_id, "svc-1", issue)
        assert again == final
        published = await client.publish(e2e_ledger.project_id, "svc-3", issue)
        assert (await e2e_ledger.api.final(e2e_ledger.project_id, published))["status"] == (
            "Completed"
        )
    finally:
        await client.close()
    assert await e2e_ledger.api.balance(e2e_ledger.project_id, wallet) == 60
