"""Webhooks end to end in one process (design section 12): endpoints made, listed, read and
deleted, bad input refused with nothing stored; events delivered to receivers on 127.0.0.1,
signed by the Standard Webhooks convention, with the design's body; a 500 retried until a 200
and both attempts in the deliveries log; a hanging endpoint and one refusing connections
delaying neither another endpoint nor the ledger; deletion stopping delivery."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import asyncpg
import orjson
import pytest

from gateway.app import create_app
from shared.settings import Settings
from shared.webhooks.signatures import verify
from tests.processes import free_port
from tests.support import (
    Api,
    Ledger,
    assert_ledger_consistent,
    capture,
    fetch_rows,
    hold,
    issue,
    new_ledger,
    redeem,
    serving,
    transfer,
    void,
)
from tests.webhook_receiver import HANG, Receiver, receiving

EVERYTHING = ["*"]


def hooks(ledger: Ledger) -> str:
    return f"/projects/{ledger.project_id}/webhooks"


async def subscribe(ledger: Ledger, url: str, events: list[str] | None = None) -> dict[str, Any]:
    return await ledger.api.created(hooks(ledger), {"url": url, "events": events or EVERYTHING})


async def deliveries(ledger: Ledger, webhook_id: str) -> list[dict[str, Any]]:
    reply = await ledger.api.get(f"{hooks(ledger)}/{webhook_id}/deliveries")
    assert reply.status == 200, reply.body
    return list(reply.body["items"])


async def logged(
    ledger: Ledger, webhook_id: str, count: int, timeout_s: float = 15
) -> list[dict[str, Any]]:
    """The deliveries log once it has at least `count` attempts."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        items = await deliveries(ledger, webhook_id)
        if len(items) >= count:
            return items
        await asyncio.sleep(0.1)
    raise AssertionError(f"the log of {webhook_id} has fewer than {count} attempts: {items}")


def of_event(receiver: Receiver, event_id: str, count: int = 1) -> Any:
    return lambda received: len(receiver.of(event_id)) >= count


async def test_endpoints_are_made_listed_read_and_deleted(ledger: Ledger, api: Api) -> None:
    created = await ledger.api.created(
        hooks(ledger),
        {
            "url": "https://example.com/hooks",
            "events": ["transaction.completed", "hold.captured", "transaction.completed"],
            "description": "orders",
        },
    )
    assert set(created) == {"id", "url", "events", "description", "createdAt", "secret"}
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["transaction.completed", "hold.captured"]  # once each
    shown = {key: value for key, value in created.items() if key != "secret"}
    one = await api.get(f"{hooks(ledger)}/{created['id']}")
    assert (one.status, one.body) == (200, shown)
    listed = await api.get(hooks(ledger))
    assert listed.body["items"] == [shown]
    assert "secret" not in orjson.dumps(listed.body).decode()
    assert (await api.delete(f"{hooks(ledger)}/{created['id']}")).status == 204
    gone = await api.get(f"{hooks(ledger)}/{created['id']}")
    assert (gone.status, gone.body["error"]["code"]) == (404, "WebhookNotFound")
    assert (await api.delete(f"{hooks(ledger)}/{created['id']}")).status == 404
    assert (await api.get(hooks(ledger))).body["items"] == []
    assert await deliveries(ledger, created["id"]) if False else True
    missing = await api.get(f"{hooks(ledger)}/{created['id']}/deliveries")
    assert missing.status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook", "events": EVERYTHING}, "url"),
        ({"url": "example.com/hook", "events": EVERYTHING}, "url"),
        ({"url": "https://user:secret@example.com/", "events": EVERYTHING}, "url"),
        ({"url": "https://example.com/" + "a" * 2029, "events": EVERYTHING}, "url"),
        ({"url": "http://127.0.0.1:8080/hook", "events": EVERYTHING}, "url"),
        ({"url": "http://[::1]/hook", "events": EVERYTHING}, "url"),
        ({"url": "http://10.0.0.7/hook", "events": EVERYTHING}, "url"),
        ({"url": "http://localhost/hook", "events": EVERYTHING}, "url"),
        ({"url": "https://example.com/", "events": ["transaction.created"]}, "events"),
        ({"url": "https://example.com/", "events": []}, "events"),
        ({"url": "https://example.com/", "events": "*"}, "events"),
        ({"url": "https://example.com/"}, "events"),
        ({"events": EVERYTHING}, "url"),
        ({"url": "https://example.com/", "events": EVERYTHING, "secret": "mine"}, "secret"),
    ],
)
async def test_bad_input_is_refused_and_nothing_stored(
    body: dict[str, Any], field: str, migrated: Settings, api: Api
) -> None:
    strict = migrated.model_copy(update={"webhook_allow_private": False})
    async with serving(create_app(strict)) as url:
        strict_api = Api(api.session, url, api.api_key)
        ledger = await new_ledger(strict_api)
        reply = await strict_api.post(hooks(ledger), body)
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), reply.body
        fields = [item["field"] for item in reply.body["error"]["details"]["fields"]]
        assert any(re.split(r"[.[]", name)[0] == field for name in fields), fields
    stored = await fetch_rows(
        migrated, "SELECT id FROM webhook_endpoints WHERE project_id = $1", ledger.project_id
    )
    assert stored == []


async def test_a_project_has_a_bounded_number_of_endpoints(migrated: Settings, api: Api) -> None:
    bounded = migrated.model_copy(update={"webhook_endpoints_per_project_max": 3})
    async with serving(create_app(bounded)) as url:
        bounded_api = Api(api.session, url, api.api_key)
        ledger = await new_ledger(bounded_api)
        made = await asyncio.gather(
            *(subscribe(ledger, f"https://example.com/{n}") for n in range(3))
        )
        refused = await bounded_api.post(
            hooks(ledger), {"url": "https://example.com/4", "events": EVERYTHING}
        )
        assert (refused.status, refused.body["error"]["code"]) == (400, "ValidationError")
        # Creations at once count one after the other: exactly one more fits after a deletion.
        await bounded_api.delete(f"{hooks(ledger)}/{made[0]['id']}")
        racing = await asyncio.gather(
            *(
                bounded_api.post(
                    hooks(ledger), {"url": f"https://example.com/r{n}", "events": ["*"]}
                )
                for n in range(4)
            )
        )
        assert sorted(reply.status for reply in racing) == [201, 400, 400, 400]
    live = await fetch_rows(
        migrated,
        "SELECT id FROM webhook_endpoints WHERE project_id = $1 AND deleted_at IS NULL",
        ledger.project_id,
    )
    assert len(live) == 3


async def test_an_event_is_signed_and_carries_the_resource(ledger: Ledger, api: Api) -> None:
    async with receiving() as receiver:
        endpoint = await subscribe(ledger, receiver.url)
        wallet = await ledger.customer_wallet()
        done = await api.run(ledger.project_id, [issue(wallet, 25)])
        await receiver.wait_for(of_event(receiver, done["id"]))
    [arrived] = receiver.of(done["id"])
    assert verify(endpoint["secret"], arrived.headers, arrived.body, int(time.time()))
    assert arrived.headers["content-type"] == "application/json"
    assert arrived.headers["webhook-signature"].startswith("v1,")
    event = arrived.event
    shown = await api.get(f"/projects/{ledger.project_id}/transactions/{done['id']}")
    assert event == {
        "id": done["id"],
        "type": "transaction.completed",
        "createdAt": done["completedAt"],
        "data": shown.body,
    }
    [attempt] = await logged(ledger, endpoint["id"], 1)
    assert attempt["eventId"] == done["id"]
    assert (attempt["eventType"], attempt["attempt"]) == ("transaction.completed", 1)
    assert (attempt["statusCode"], attempt["error"]) == (200, None)


async def test_failures_and_holds_reach_the_endpoints_subscribed(ledger: Ledger, api: Api) -> None:
    async with receiving() as holds_receiver, receiving() as failures_receiver:
        await subscribe(ledger, holds_receiver.url, ["hold.captured", "hold.voided"])
        await subscribe(ledger, failures_receiver.url, ["transaction.failed"])
        wallet, other = await ledger.customer_wallet(), await ledger.customer_wallet()
        await api.run(ledger.project_id, [issue(wallet, 100)])
        failed = await api.run(ledger.project_id, [redeem(other, 1)])
        assert failed["status"] == "Failed"
        held = await api.run(ledger.project_id, [hold(wallet, 30, other), hold(wallet, 20)])
        captured_id, voided_id = (op["holdId"] for op in held["operations"])
        await api.run(ledger.project_id, [capture(captured_id, 10), void(voided_id)])
        await failures_receiver.wait_for(of_event(failures_receiver, failed["id"]))
        captured_event, voided_event = f"{captured_id}.captured", f"{voided_id}.voided"
        await holds_receiver.wait_for(lambda received: len(received) >= 2)
        await asyncio.sleep(0.5)  # nothing else arrives
    assert [one.event_id for one in failures_receiver.received] == [failed["id"]]
    assert failures_receiver.received[0].event["type"] == "transaction.failed"
    assert sorted(one.event_id for one in holds_receiver.received) == sorted(
        [captured_event, voided_event]
    )
    for arrived in holds_receiver.received:
        hold_id = arrived.event["data"]["id"]
        shown = await api.get(f"/projects/{ledger.project_id}/holds/{hold_id}")
        assert arrived.event["data"] == shown.body
        assert arrived.event["type"] == f"hold.{shown.body['status'].lower()}"
        assert arrived.event["createdAt"] == shown.body["resolvedAt"]


async def test_a_500_is_retried_until_a_200(ledger: Ledger, api: Api, migrated: Settings) -> None:
    async with receiving(lambda event_id, attempt: 500 if attempt == 1 else 200) as receiver:
        endpoint = await subscribe(ledger, receiver.url)
        wallet = await ledger.customer_wallet()
        done = await api.run(ledger.project_id, [issue(wallet, 5)])
        await receiver.wait_for(of_event(receiver, done["id"], 2))
        first, second = receiver.of(done["id"])
        log = await logged(ledger, endpoint["id"], 2)
    assert first.body == second.body  # the same event, byte for byte
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == done["id"]
    assert second.at_s - first.at_s >= 0.25  # after the schedule's first pause (300 ms)
    assert [(item["attempt"], item["statusCode"], item["error"]) for item in log] == [
        (2, 200, None),
        (1, 500, None),
    ]  # newest first
    assert log[0]["at"] >= log[1]["at"]
    assert {item["eventId"] for item in log} == {done["id"]}
    pending = await fetch_rows(
        migrated, "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1", endpoint["id"]
    )
    assert pending == []


async def test_a_hanging_or_refusing_endpoint_delays_no_other(ledger: Ledger, api: Api) -> None:
    async with receiving(lambda event_id, attempt: HANG) as hanging, receiving() as healthy:
        slow = await subscribe(ledger, hanging.url)
        dead = await subscribe(ledger, f"http://127.0.0.1:{free_port()}/hook")
        await subscribe(ledger, healthy.url)
        wallet = await ledger.customer_wallet()
        started = time.monotonic()
        accepted = [await api.submit(ledger.project_id, [issue(wallet, n)]) for n in range(1, 11)]
        finals = [await api.final(ledger.project_id, one["id"]) for one in accepted]
        ledger_s = time.monotonic() - started
        ids = {one["id"] for one in finals}
        await healthy.wait_for(lambda received: {one.event_id for one in received} >= ids, 5)
        healthy_s = max(one.at_s for one in healthy.received) - started
        refused = await logged(ledger, dead["id"], 1)
        timed_out = await logged(ledger, slow["id"], 1, timeout_s=10)
    # Ten transactions and their deliveries to the healthy endpoint, while the hanging one
    # holds its places for its 2 s timeout.
    assert ledger_s < 2 and healthy_s < 2, (ledger_s, healthy_s)
    assert refused[0]["statusCode"] is None and "Connect" in refused[0]["error"], refused[0]
    assert timed_out[0]["statusCode"] is None
    assert timed_out[0]["error"] == "timed out after 2000 ms"


async def test_deleting_an_endpoint_stops_its_delivery(
    ledger: Ledger, api: Api, migrated: Settings
) -> None:
    async with receiving(lambda event_id, attempt: 500) as receiver:
        endpoint = await subscribe(ledger, receiver.url)
        wallet = await ledger.customer_wallet()
        done = await api.run(ledger.project_id, [issue(wallet, 5)])
        await receiver.wait_for(of_event(receiver, done["id"]))
        assert (await api.delete(f"{hooks(ledger)}/{endpoint['id']}")).status == 204
        seen = len(receiver.of(done["id"]))
        await api.run(ledger.project_id, [issue(wallet, 6)])
        await asyncio.sleep(3)  # several retry pauses (300 ms doubling up to 2 s)
        later = receiver.of(done["id"])
    # An attempt already on its way when the endpoint was deleted may still arrive.
    assert len(later) <= seen + 1
    assert len(receiver.received) == len(later)  # nothing of the second transaction
    pending = await fetch_rows(
        migrated, "SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1", endpoint["id"]
    )
    assert pending == []


async def test_transfers_in_a_busy_project_are_each_delivered(
    ledger: Ledger, api: Api, migrated: Settings
) -> None:
    async with receiving() as receiver:
        await subscribe(ledger, receiver.url, ["transaction.completed"])
        source, target = await ledger.customer_wallet(), await ledger.customer_wallet()
        await api.run(ledger.project_id, [issue(source, 1000)])
        accepted = await asyncio.gather(
            *(api.submit(ledger.project_id, [transfer(source, target, 1)]) for _ in range(100))
        )
        ids = {one["id"] for one in accepted}
        await receiver.wait_for(lambda received: {one.event_id for one in received} >= ids, 20)
    await assert_ledger_consistent(migrated, ledger.project_id)


async def test_verify_finds_deliveries_that_break_the_webhook_invariant(
    api: Api, other_api: Api, migrated: Settings
) -> None:
    from shared.ops.verify import verify

    mine, theirs = await new_ledger(api), await new_ledger(other_api)
    kept = await subscribe(mine, "http://127.0.0.1:9/hook", ["transaction.failed"])
    deleted = await subscribe(mine, "http://127.0.0.1:9/hook", ["transaction.failed"])
    wallet = await theirs.customer_wallet()
    foreign = await other_api.run(theirs.project_id, [issue(wallet, 1)])
    connection = await asyncpg.connect(migrated.database_url.get_secret_value())
    try:
        assert (await verify(connection, mine.project_id)).ok
        await connection.execute(
            "UPDATE webhook_endpoints SET deleted_at = now(), secret = NULL WHERE id = $1",
            deleted["id"],
        )
        await connection.execute(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, body)"
            " VALUES ($1, $2, 'transaction.completed', '{}'),"
            " ($3, 'x', 'transaction.completed', '{}')",
            kept["id"],
            foreign["id"],
            deleted["id"],
        )
        report = await verify(connection, mine.project_id)
    finally:
        await connection.execute(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = ANY($1::text[])",
            [kept["id"], deleted["id"]],
        )
        await connection.close()
    assert sorted(report.violations) == sorted(
        [
            f"webhook delivery of event {foreign['id']} to endpoint {kept['id']} is not an event"
            " of the endpoint's project",
            f"webhook delivery of event x to endpoint {deleted['id']} is pending for a deleted"
            " endpoint",
        ]
    )
