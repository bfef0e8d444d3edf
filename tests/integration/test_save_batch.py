"""What `store.save` writes for a plan, read back from the real PostgreSQL: the rows travel as
JSON documents (worker/store.py), so every kind of value a plan holds must arrive as it was:
amounts and balances beyond 64 bits, a request digest, operations and a failure as JSON, no
failure as NULL, a submission time given without a zone (taken as UTC, as asyncpg takes one),
the batch's instant, and the entries in posting order."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from shared.amqp.client import transaction_message
from shared.contract.messages import TransactionMessage, operations_json, request_digest
from shared.core.ledger import AMOUNT_MAX
from shared.database import connect
from shared.ids import new_id
from shared.settings import Settings
from tests.support import Ledger, fetch_rows, issue, transfer
from worker.batch import plan_batch
from worker.store import load_batch, partition_transaction, save

PARTITION = 1_000_005  # a partition no worker owns, so that its lock is free


async def test_a_saved_plan_reads_back_as_planned(ledger: Ledger, migrated: Settings) -> None:
    source, target = await ledger.system_wallet(), await ledger.system_wallet()
    project = ledger.project_id
    without_zone = TransactionMessage.model_validate(
        {
            "id": new_id(),
            "projectId": project,
            "referenceId": "no zone",
            "operations": [transfer(source, target, 1)],
            "submittedAt": "2026-12-04T03:00:00.123456",
        }
    )
    messages = [
        transaction_message(project, "largest", [issue(source, AMOUNT_MAX)]),
        transaction_message(project, "most of it", [transfer(source, target, AMOUNT_MAX - 2)]),
        without_zone,
        transaction_message(project, "too much", [transfer(source, target, 5)]),
    ]
    applied_at = datetime(2026, 12, 4, 3, 0, 1, 654321, tzinfo=UTC)
    connection = await connect(migrated, application_name="test", idle_session_timeout_ms=0)
    try:
        # A server in another zone than UTC reads a time without a zone in its own zone.
        await connection.execute("SET TimeZone = 'Pacific/Auckland'")
        async with partition_transaction(connection, PARTITION):
            known, wallets, holds, _ = await load_batch(connection, messages)
            assert holds == {}
            plan = plan_batch(messages, known, wallets, applied_at, holds)
            await save(connection, plan, PARTITION, (new_id(), []), [])
    finally:
        await connection.close()

    rows = await fetch_rows(
        migrated,
        "SELECT * FROM transactions WHERE project_id = $1 ORDER BY created_at, id",
        project,
    )
    by_reference = {row["reference_id"]: row for row in rows}
    assert set(by_reference) == {"largest", "most of it", "no zone", "too much"}
    for message in messages:
        row = by_reference[message.reference_id]
        operations = operations_json(message.operations)
        assert row["id"] == message.id
        assert orjson.loads(row["operations"]) == operations
        assert row["request_digest"] == request_digest(operations)
        assert row["completed_at"] == applied_at
    assert by_reference["no zone"]["created_at"] == datetime(
        2026, 12, 4, 3, 0, 0, 123456, tzinfo=UTC
    )
    assert by_reference["largest"]["created_at"] == messages[0].submitted_at
    assert [by_reference[key]["status"] for key in ("largest", "no zone", "too much")] == [
        "Completed",
        "Completed",
        "Failed",
    ]
    assert by_reference["largest"]["failure"] is None
    assert orjson.loads(by_reference["too much"]["failure"]) == {
        "operationIndex": 0,
        "code": "InsufficientFunds",
        "message": f"wallet {source} holds less than the amount",
    }

    entries = await fetch_rows(
        migrated,
        "SELECT e.*, e.amount::text AS amount_text, e.balance_after::text AS after_text"
        " FROM entries e JOIN transactions t ON t.id = e.transaction_id"
        " WHERE t.project_id = $1 ORDER BY e.id",
        project,
    )
    assert [
        (e["transaction_id"], e["wallet_id"], e["operation_index"], e["type"], e["amount_text"],
         e["after_text"], e["counterparty_wallet_id"], e["created_at"])
        for e in entries
    ] == [
        (messages[0].id, source, 0, "Issue", str(AMOUNT_MAX), str(AMOUNT_MAX), None, applied_at),
        (messages[1].id, source, 0, "Debit", str(AMOUNT_MAX - 2), "2", target, applied_at),
        (messages[1].id, target, 0, "Credit", str(AMOUNT_MAX - 2), str(AMOUNT_MAX - 2), source,
         applied_at),
        (without_zone.id, source, 0, "Debit", "1", "1", target, applied_at),
        (without_zone.id, target, 0, "Credit", "1", str(AMOUNT_MAX - 1), source, applied_at),
    ]  # fmt: skip
    balances = await fetch_rows(
        migrated,
        "SELECT id, balance::text AS balance FROM wallets WHERE id = ANY($1::text[])",
        [source, target],
    )
    assert {row["id"]: row["balance"] for row in balances} == {
        source: "1",
        target: str(AMOUNT_MAX - 1),
    }
