"""An internal service with no HTTP access: publish and wait for the final state over AMQP
alone, through the worker process, including a repeated reference ID; a transaction of an
unknown project is answered at once with DeadLettered, and a malformed one is refused before it
is published, instead of either waiting out the timeout."""

from __future__ import annotations

import asyncio
import time

import pytest

from shared.amqp.client import TransactionClient
from shared.errors import DeadLettered, ValidationFailed
from shared.settings import Settings
from tests.support import Ledger

# Far below submit_and_wait's timeout: the dead letter comes back as soon as the worker refuses.
DEAD_LETTER_ANSWER_MAX_S = 5


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


async def test_an_unknown_project_is_answered_at_once(
    e2e_ledger: Ledger, process_settings: Settings
) -> None:
    wallet = await e2e_ledger.system_wallet()
    client = await TransactionClient.open(process_settings)
    try:
        issue = [{"type": "Issue", "to": wallet, "amount": "30"}]
        started = time.monotonic()
        with pytest.raises(DeadLettered) as refused:
            await client.submit_and_wait("01NOSUCHPROJECT", "svc-x", issue, timeout_s=30)
        assert time.monotonic() - started < DEAD_LETTER_ANSWER_MAX_S
        assert refused.value.reason == "rejected" and refused.value.transaction_id
        # The client still answers the transactions of a project that exists.
        final = await client.submit_and_wait(e2e_ledger.project_id, "svc-y", issue)
        assert final["status"] == "Completed"
        with pytest.raises(ValidationFailed):
            await asyncio.wait_for(
                client.submit_and_wait(e2e_ledger.project_id, "svc-z", [{"type": "Issue"}]), 1
            )
    finally:
        await client.close()
