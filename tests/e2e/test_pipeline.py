"""The whole pipeline as deployed: HTTP into a `cloudwallet gateway` process, RabbitMQ, a
`cloudwallet worker` process, PostgreSQL and Redis, checked by polling and by the invariants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from shared.ids import new_id
from shared.messages import TransactionMessage
from shared.publisher import Publisher
from shared.settings import Settings
from tests.support import Ledger, assert_ledger_consistent


async def test_walkthrough_issue_transfer_poll_and_read_balances(
    e2e_ledger: Ledger, process_settings: Settings
) -> None:
    api, project = e2e_ledger.api, e2e_ledger.project_id
    treasury, alice, bob = (
        await e2e_ledger.system_wallet(),
        await e2e_ledger.customer_wallet(),
        await e2e_ledger.customer_wallet(),
    )
    funded = await api.run(project, [{"type": "Issue", "to": treasury, "amount": "10000"}])
    assert funded["status"] == "Completed"
    accepted = await asyncio.gather(
        *(
            api.submit(
                project,
                [
                    {"type": "Transfer", "from": treasury, "to": alice, "amount": "100"},
                    {"type": "Transfer", "from": alice, "to": bob, "amount": "40"},
                ],
            )
            for _ in range(50)
        )
    )
    finals = [await api.final(project, str(item["id"])) for item in accepted]
    assert [final["status"] for final in finals] == ["Completed"] * 50
    balances = [await api.balance(project, wallet) for wallet in (treasury, alice, bob)]
    assert balances == [5000, 3000, 2000]
    await assert_ledger_consistent(
        process_settings, project, [(str(a["id"]), str(a["referenceId"])) for a in accepted]
    )


async def test_internal_publisher_reaches_the_worker(
    e2e_ledger: Ledger, process_settings: Settings
) -> None:
    """A trusted service publishes straight to the exchange; the state is then readable over
    HTTP like any other transaction."""
    wallet = await e2e_ledger.system_wallet()
    publisher = await Publisher.open(process_settings)
    try:
        message = TransactionMessage.model_validate(
            {
                "id": new_id(),
                "projectId": e2e_ledger.project_id,
                "referenceId": "internal-1",
                "operations": [{"type": "Issue", "to": wallet, "amount": "25"}],
                "submittedAt": datetime.now(UTC).isoformat(),
            }
        )
        await publisher.publish(message)
    finally:
        await publisher.close()
    done = await e2e_ledger.api.final(e2e_ledger.project_id, message.id)
    assert done["status"] == "Completed"
    assert await e2e_ledger.api.balance(e2e_ledger.project_id, wallet) == 25
