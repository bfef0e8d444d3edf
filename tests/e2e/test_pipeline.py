"""The whole pipeline as deployed: HTTP into a `cloudwallet gateway` process, RabbitMQ, a
`cloudwallet worker` process, PostgreSQL and Redis, checked by polling and by the invariants."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from shared.amqp.publisher import Publisher
from shared.contract.messages import TransactionMessage
from shared.ids import new_id
from shared.settings import Settings
from tests.events import EventLog
from tests.support import Ledger, assert_ledger_consistent

OUTBOX_WAIT_TRIES = 50  # of 0.1 s


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


async def test_every_final_state_is_announced_and_the_outbox_empties(
    e2e_ledger: Ledger, process_settings: Settings
) -> None:
    """Each applied transaction's final state reaches the events exchange once, with its id as
    the message id, and the outbox rows go once the broker has confirmed them (the worker
    deletes them when idle)."""
    events = EventLog(process_settings, e2e_ledger.project_id)
    await events.bind()
    api, project = e2e_ledger.api, e2e_ledger.project_id
    wallet = await e2e_ledger.system_wallet()
    operations = [
        [{"type": "Issue", "to": wallet, "amount": "10"}],
        [{"type": "Redeem", "from": wallet, "amount": "1000"}],  # InsufficientFunds: Failed
    ] * 5
    accepted = await asyncio.gather(*(api.submit(project, ops) for ops in operations))
    finals = {
        str(item["id"]): (await api.final(project, str(item["id"])))["status"] for item in accepted
    }
    assert sorted(finals.values()) == ["Completed"] * 5 + ["Failed"] * 5
    seen = await events.collect(finals)
    assert seen == dict.fromkeys(finals, 1)
    database = await asyncpg.connect(process_settings.database_url.get_secret_value())
    try:
        for _ in range(OUTBOX_WAIT_TRIES):
            left = await database.fetchval(
                "SELECT count(*) FROM event_outbox WHERE transaction_ids && $1::text[]",
                list(finals),
            )
            if left == 0:
                break
            await asyncio.sleep(0.1)
        assert left == 0
    finally:
        await database.close()
