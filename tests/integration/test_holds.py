"""Holds through the in-process gateway and worker on the real services: the lifecycle, partial
capture, void, expiry by the service within its bound and never early, concurrent captures of
one hold, the failure codes, a hold mixed with other operations, the entries and their held
balances, the events, and the ledger's invariants (`cloudwallet verify`) after each."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson

from shared.amqp.broker import EVENTS_EXCHANGE
from shared.contract.messages import hold_id
from shared.settings import Settings
from tests.support import (
    Api,
    Ledger,
    assert_ledger_consistent,
    capture,
    fetch_rows,
    hold,
    issue,
    transfer,
    void,
)

EXPIRY_BOUND_S = 10  # the design: released within 10 s of the instant
POLL_S = 0.1


async def wallet_row(settings: Settings, wallet_id: str) -> tuple[int, int]:
    (row,) = await fetch_rows(
        settings, "SELECT balance, held FROM wallets WHERE id = $1", wallet_id
    )
    return int(row["balance"]), int(row["held"])


async def hold_row(settings: Settings, held: str) -> dict[str, Any]:
    (row,) = await fetch_rows(settings, "SELECT * FROM holds WHERE id = $1", held)
    return dict(row)


async def resolved(settings: Settings, held: str) -> dict[str, Any]:
    """The hold once it is no longer Pending, polled for at most the expiry bound."""
    for _ in range(int(EXPIRY_BOUND_S / POLL_S)):
        row = await hold_row(settings, held)
        if row["status"] != "Pending":
            return row
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"hold {held} was not resolved within {EXPIRY_BOUND_S} s")


async def entries_of(settings: Settings, wallet_id: str) -> list[tuple[str, int, int, int]]:
    rows = await fetch_rows(
        settings,
        "SELECT type, amount, balance_after, held_after FROM entries WHERE wallet_id = $1"
        " ORDER BY id",
        wallet_id,
    )
    return [
        (row["type"], int(row["amount"]), int(row["balance_after"]), int(row["held_after"]))
        for row in rows
    ]


async def funded(ledger: Ledger, amount: int) -> tuple[str, str]:
    """A customer wallet holding `amount`, and a merchant wallet."""
    treasury, buyer, merchant = (
        await ledger.system_wallet(),
        await ledger.customer_wallet(),
        await ledger.customer_wallet(),
    )
    done = await ledger.api.run(
        ledger.project_id, [issue(treasury, amount), transfer(treasury, buyer, amount)]
    )
    assert done["status"] == "Completed"
    return buyer, merchant


async def test_hold_then_partial_capture(ledger: Ledger, migrated: Settings) -> None:
    api, project, settings = ledger.api, ledger.project_id, migrated
    buyer, merchant = await funded(ledger, 100)
    held = await api.run(project, [hold(buyer, 60, merchant, timeout_s=3600)])
    assert held["status"] == "Completed", held
    hold_id_ = held["operations"][0]["holdId"]
    assert hold_id_ == hold_id(held["id"], 0)
    assert await wallet_row(settings, buyer) == (100, 60)
    row = await hold_row(settings, hold_id_)
    assert (row["status"], int(row["amount"]), row["to_wallet_id"]) == ("Pending", 60, merchant)
    assert row["project_id"] == project and row["transaction_id"] == held["id"]
    completed_at = datetime.fromisoformat(held["completedAt"])
    assert (row["expires_at"] - completed_at).total_seconds() == 3600

    # Only the available 40 can move meanwhile.
    refused = await api.run(project, [transfer(buyer, merchant, 41)])
    assert refused["failure"]["code"] == "InsufficientFunds"
    captured = await api.run(project, [capture(hold_id_, 25)])
    assert captured["status"] == "Completed", captured
    assert await wallet_row(settings, buyer) == (75, 0)
    assert await wallet_row(settings, merchant) == (25, 0)
    row = await hold_row(settings, hold_id_)
    assert (row["status"], int(row["captured_amount"])) == ("Captured", 25)
    assert row["resolved_by_transaction_id"] == captured["id"]
    assert await entries_of(settings, buyer) == [
        ("Credit", 100, 100, 0),
        ("Hold", 60, 100, 60),
        ("Release", 60, 100, 0),
        ("Debit", 25, 75, 0),
    ]
    again = await api.run(project, [capture(hold_id_)])
    assert again["failure"] == {
        "operationIndex": 0,
        "code": "HoldNotPending",
        "message": again["failure"]["message"],
    }
    await assert_ledger_consistent(settings, project)


async def test_void_and_redeeming_hold(ledger: Ledger, migrated: Settings) -> None:
    api, project, settings = ledger.api, ledger.project_id, migrated
    buyer, _ = await funded(ledger, 50)
    first = await api.run(project, [hold(buyer, 30), hold(buyer, 20)])
    assert first["status"] == "Completed"
    one, two = (operation["holdId"] for operation in first["operations"])
    assert await wallet_row(settings, buyer) == (50, 50)
    over = await api.run(project, [hold(buyer, 1)])
    assert over["failure"]["code"] == "InsufficientFunds"
    voided = await api.run(project, [void(one)])
    assert voided["status"] == "Completed"
    assert (await hold_row(settings, one))["status"] == "Voided"
    redeemed = await api.run(project, [capture(two)])  # a pending Redeem, whole
    assert redeemed["status"] == "Completed"
    assert await wallet_row(settings, buyer) == (30, 0)
    row = await hold_row(settings, two)
    assert (row["status"], int(row["captured_amount"])) == ("Captured", 20)
    await assert_ledger_consistent(settings, project)


async def test_failure_codes_of_holds(ledger: Ledger, other_api: Api, migrated: Settings) -> None:
    api, project, settings = ledger.api, ledger.project_id, migrated
    buyer, merchant = await funded(ledger, 10)
    made = await api.run(project, [hold(buyer, 5, merchant)])
    held = made["operations"][0]["holdId"]
    cases = [
        ([capture("no-such-hold")], "HoldNotFound"),
        ([capture(held, 6)], "CaptureExceedsHold"),
        ([hold(buyer, 6)], "InsufficientFunds"),
        ([hold(buyer, 1, buyer)], "SameWallet"),
    ]
    for operations, code in cases:
        failed = await api.run(project, operations)
        assert failed["failure"]["code"] == code, (operations, failed)
    # Another project's hold is not found, and nothing of it is shown.
    other = await other_api.created("/projects", {"name": "other"})
    foreign = await other_api.run(other["id"], [capture(held)])
    assert foreign["failure"]["code"] == "HoldNotFound"
    assert (await hold_row(settings, held))["status"] == "Pending"
    # All or nothing: the capture fails with the issue after it, the hold stays Pending.
    mixed = await api.run(project, [capture(held), transfer(merchant, buyer, 6)])
    assert mixed["failure"] == {
        "operationIndex": 1,
        "code": "InsufficientFunds",
        "message": mixed["failure"]["message"],
    }
    assert (await hold_row(settings, held))["status"] == "Pending"
    # Mixed and in order: a capture, then a transfer of what it moved.
    both = await api.run(project, [capture(held), transfer(merchant, buyer, 5)])
    assert both["status"] == "Completed", both
    assert await wallet_row(settings, buyer) == (10, 0)
    await assert_ledger_consistent(settings, project)


async def test_twenty_concurrent_captures_one_wins(ledger: Ledger, migrated: Settings) -> None:
    api, project, settings = ledger.api, ledger.project_id, migrated
    buyer, merchant = await funded(ledger, 100)
    made = await api.run(project, [hold(buyer, 100, merchant)])
    held = made["operations"][0]["holdId"]
    results = await asyncio.gather(*(api.run(project, [capture(held, 100)]) for _ in range(20)))
    statuses = sorted(result["status"] for result in results)
    assert statuses == ["Completed"] + ["Failed"] * 19
    assert {r["failure"]["code"] for r in results if r["status"] == "Failed"} == {"HoldNotPending"}
    assert await wallet_row(settings, buyer) == (0, 0)
    assert await wallet_row(settings, merchant) == (100, 0)
    await assert_ledger_consistent(settings, project)


async def test_expiry_by_the_service_and_never_early(ledger: Ledger, migrated: Settings) -> None:
    api, project, settings = ledger.api, ledger.project_id, migrated
    buyer, merchant = await funded(ledger, 10)
    connection, events = await _events(settings, project)
    try:
        made = await api.run(project, [hold(buyer, 4, merchant, timeout_s=1)])
        held = made["operations"][0]["holdId"]
        expires_at = (await hold_row(settings, held))["expires_at"]
        deadline = expires_at.timestamp() + EXPIRY_BOUND_S
        while (row := await hold_row(settings, held))["status"] == "Pending":
            assert datetime.now(UTC).timestamp() < deadline, "not expired within the bound"
            await asyncio.sleep(0.1)
        assert row["status"] == "Expired"
        assert row["resolved_at"] >= expires_at  # never early
        assert await wallet_row(settings, buyer) == (10, 0)
        late = await api.run(project, [capture(held)])
        assert late["failure"]["code"] == "HoldExpired"
        expiry = await api.get(
            f"/projects/{project}/transactions/{row['resolved_by_transaction_id']}"
        )
        assert expiry.body["operations"] == [{"type": "Expire", "holdId": held}]
        assert expiry.body["referenceId"] == f"cloudwallet:expire:{held}"
        seen = await _collect(events, {f"hold.pending.{project}", f"hold.expired.{project}"})
        assert seen[f"hold.expired.{project}"]["id"] == held
        assert seen[f"hold.pending.{project}"]["status"] == "Pending"
    finally:
        await connection.close()
    await assert_ledger_consistent(settings, project)


async def test_capture_after_the_instant_fails_before_any_release(
    ledger: Ledger, migrated: Settings
) -> None:
    """The writer decides by its own instant: a Capture at or after expiresAt fails HoldExpired,
    whether or not the service's release has run."""
    api, project, settings = ledger.api, ledger.project_id, migrated
    buyer, merchant = await funded(ledger, 10)
    made = await api.run(project, [hold(buyer, 4, merchant, timeout_s=1)])
    held = made["operations"][0]["holdId"]
    expires_at = (await hold_row(settings, held))["expires_at"]
    await asyncio.sleep(max(0.0, expires_at.timestamp() - datetime.now(UTC).timestamp()))
    late = await api.run(project, [capture(held)])
    assert late["failure"]["code"] == "HoldExpired"
    assert await wallet_row(settings, merchant) == (0, 0)


async def _events(
    settings: Settings, project_id: str
) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractQueue]:
    """A queue of the project's hold events, on a connection the caller closes."""
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(EVENTS_EXCHANGE, routing_key=f"hold.*.{project_id}")
    return connection, queue


async def _collect(queue: aio_pika.abc.AbstractQueue, keys: set[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    async with asyncio.timeout(20):
        async with queue.iterator() as messages:
            async for message in messages:
                await message.ack()
                seen[message.routing_key or ""] = orjson.loads(message.body)
                if keys <= set(seen):
                    return seen
    return seen


async def test_captures_racing_the_expiry(ledger: Ledger, migrated: Settings) -> None:
    """Captures and Voids submitted around the instant, while the service expires the hold:
    the hold resolves exactly once, as Captured or Voided only before its instant."""
    api, project = ledger.api, ledger.project_id
    buyer, merchant = await funded(ledger, 40)
    made = await api.run(project, [hold(buyer, 10, merchant, timeout_s=1) for _ in range(4)])
    held = [operation["holdId"] for operation in made["operations"]]
    expires_at = (await hold_row(migrated, held[0]))["expires_at"]
    await asyncio.sleep(max(0.0, expires_at.timestamp() - datetime.now(UTC).timestamp() - 0.05))
    racing = [capture(one, 3) if index % 2 else void(one) for index, one in enumerate(held)]
    results = await asyncio.gather(*(api.run(project, [operation]) for operation in racing * 3))
    for result in results:
        assert result["status"] == "Completed" or result["failure"]["code"] in (
            "HoldExpired",
            "HoldNotPending",
        ), result
    for one in held:
        row = await resolved(migrated, one)
        winners = [
            r for r in results if r["status"] == "Completed" and r["operations"][0]["holdId"] == one
        ]
        if row["status"] == "Expired":
            assert winners == [] and row["resolved_at"] >= expires_at
        else:
            assert [w["id"] for w in winners] == [row["resolved_by_transaction_id"]]
            assert datetime.fromisoformat(winners[0]["completedAt"]) < expires_at
    assert (await wallet_row(migrated, buyer))[1] == 0
    await assert_ledger_consistent(migrated, project)
