"""Hostile input against the gateway and the worker running in this process: deep nesting,
repeated keys, a charset other than UTF-8, control, separator and bidirectional characters in
ids and names, and oversized headers, each answered in the design's error shape (never a 500,
never a stack trace) with nothing stored; and a queue message an internal service publishes
with such an id is dead-lettered while the valid one behind it is applied."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aio_pika
import orjson
import pytest

from gateway.openapi.endpoint import Route
from gateway.routes import ROUTES
from shared.amqp.broker import DEAD_LETTER_QUEUE
from shared.contract.partition import partition_of, queue_name
from shared.ids import new_id
from shared.settings import Settings
from tests.support import Api, Ledger, Reply, fetch_rows, issue, namespace_settings

JSON = {"Content-Type": "application/json"}
BODY_ROUTES = [route for route in ROUTES if route.endpoint.body is not None]
# One level past the default of Settings.json_depth_max, which these tests' gateway runs with.
DEPTH_PAST_LIMIT = 33
# Tries to find a dead-lettered message, 50 ms apart.
DEAD_LETTER_READS_MAX = 100


def fill(route: Route, ledger: Ledger) -> str:
    values = {
        "projectId": ledger.project_id,
        "assetId": ledger.asset_id,
        "walletId": "01NOSUCHWALLET000000000000",
        "transactionId": "01NOSUCHTRANSACTION0000000",
        "customerId": "nobody",
    }
    return re.sub(r"\{(\w+)\}", lambda match: values[match.group(1)], route.path)


def refused(reply: Reply, field: str, status: int = 400) -> bool:
    if reply.status != status:
        return False
    code = {400: "ValidationError", 415: "UnsupportedMediaType"}[status]
    error = reply.body["error"]
    fields = [item["field"] for item in error.get("details", {}).get("fields", [])]
    return bool(error["code"] == code and field in fields)


def nested(depth: int) -> bytes:
    return b'{"name": ' + b"[" * depth + b"1" + b"]" * depth + b"}"


async def stored_transactions(ledger: Ledger) -> int:
    rows = await fetch_rows(
        namespace_settings(), "SELECT 1 FROM transactions WHERE project_id = $1", ledger.project_id
    )
    return len(rows)


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_deep_nesting_is_400_on_every_body_route(
    ledger: Ledger, route: Route, migrated: Settings
) -> None:
    path = fill(route, ledger)
    for depth in (400, 5_000, 300_000, DEPTH_PAST_LIMIT):
        reply = await ledger.api.call(route.method, path, raw=nested(depth), headers=JSON)
        assert refused(reply, "body"), (depth, reply.status, reply.body)
        message = reply.body["error"]["details"]["fields"][0]["message"]
        assert message == f"must not nest more than {migrated.json_depth_max} levels deep"


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda route: route.endpoint.operation_id)
async def test_a_repeated_key_is_400_naming_it_on_every_body_route(
    ledger: Ledger, route: Route
) -> None:
    example: dict[str, Any] = route.endpoint.body_example
    first, *rest = example
    pairs = [orjson.dumps(key) + b":" + orjson.dumps(example[key]) for key in [first, *rest]]
    raw = b"{" + b",".join([*pairs, pairs[0]]) + b"}"
    reply = await ledger.api.call(route.method, fill(route, ledger), raw=raw, headers=JSON)
    assert refused(reply, first), reply.body


async def test_a_repeated_amount_is_400_and_leaves_no_trace(ledger: Ledger) -> None:
    wallet = await ledger.system_wallet()
    raw = (
        b'{"referenceId": "r", "operations": [{"type": "Issue", "to": "'
        + wallet.encode()
        + b'", "amount": "1", "amount": "1000"}]}'
    )
    path = f"/projects/{ledger.project_id}/transactions"
    reply = await ledger.api.call("POST", path, raw=raw, headers=JSON)
    assert refused(reply, "operations[0].amount"), reply.body
    batch = b'{"transactions": [' + raw + b"]}"
    reply = await ledger.api.call("POST", path + "/batch", raw=batch, headers=JSON)
    assert refused(reply, "transactions[0].operations[0].amount"), reply.body
    # The same body sent whole again is accepted: nothing of the refused ones was kept.
    accepted = await ledger.api.submit(ledger.project_id, [issue(wallet, 1)], reference_id="r")
    final = await ledger.api.final(ledger.project_id, accepted["id"])
    assert final["status"] == "Completed"
    assert await ledger.api.balance(ledger.project_id, wallet) == 1


@pytest.mark.parametrize(
    "charset", ["latin-1", "ISO-8859-1", "utf-16", "us-ascii", "windows-1252", '"utf-16"']
)
async def test_a_charset_other_than_utf8_is_415(api: Api, charset: str) -> None:
    headers = {"Content-Type": f"application/json; charset={charset}"}
    reply = await api.call("POST", "/projects", raw=b'{"name": "caf\xe9"}', headers=headers)
    assert refused(reply, "Content-Type", status=415), reply.body
    assert (await api.get("/projects")).body["items"] == []


@pytest.mark.parametrize("charset", [None, "utf-8", "UTF-8", "Utf-8", '"utf-8"', "utf8"])
async def test_utf8_declared_or_not_is_accepted(api: Api, charset: str | None) -> None:
    content_type = "application/json" + (f"; charset={charset}" if charset else "")
    raw = '{"name": "caf\u00e9"}'.encode()
    reply = await api.call("POST", "/projects", raw=raw, headers={"Content-Type": content_type})
    assert (reply.status, reply.body["name"]) == (201, "caf\u00e9")


async def test_a_body_not_in_utf8_is_400(api: Api) -> None:
    for raw in ('{"name": "caf\u00e9"}'.encode("utf-16"), b'{"name": "caf\xe9"}'):
        reply = await api.call("POST", "/projects", raw=raw, headers=JSON)
        assert refused(reply, "body"), reply.body


REFUSED_IN_IDS = ["\x85", "\x9f", "\u2028", "\u2029", "\u202e", "\u2066", "\u2069", "\u200f"]


@pytest.mark.parametrize("character", REFUSED_IN_IDS)
async def test_ids_with_controls_separators_or_bidi_characters_are_400(
    ledger: Ledger, character: str
) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    operations = [issue(wallet, 1)]
    reference_id = f"order{character}1"
    reply = await api.post(
        f"/projects/{project}/transactions",
        {"referenceId": reference_id, "operations": operations},
    )
    assert refused(reply, "referenceId"), reply.body
    batch = await api.post(
        f"/projects/{project}/transactions/batch",
        {"transactions": [{"referenceId": reference_id, "operations": operations}]},
    )
    assert batch.status == 202
    item = batch.body["items"][0]
    assert (item["status"], item["body"]["error"]["details"]["fields"][0]["field"]) == (
        400,
        "referenceId",
    )
    customer_id = f"customer{character}42"
    reply = await api.post(f"/projects/{project}/customers", {"id": customer_id})
    assert refused(reply, "id"), reply.body
    reply = await api.put(f"/projects/{project}/customers/{quote(customer_id, safe='')}", {})
    assert refused(reply, "customerId"), reply.body
    reply = await api.post(
        f"/projects/{project}/wallets", {"customerId": customer_id, "assetId": ledger.asset_id}
    )
    assert refused(reply, "customerId"), reply.body
    assert await stored_transactions(ledger) == 0
    assert (await api.get(f"/projects/{project}/customers")).body["items"] == []


@pytest.mark.parametrize("character", ["\x85", "\u2028", "\u202e", "\u2067"])
async def test_names_and_descriptions_refuse_controls_and_bidi_controls(
    ledger: Ledger, character: str
) -> None:
    api, project = ledger.api, ledger.project_id
    reply = await api.post("/projects", {"name": f"evil{character}gpj.exe"})
    assert refused(reply, "name"), reply.body
    customers = f"/projects/{project}/customers"
    reply = await api.post(customers, {"id": "ada", "name": f"Ada{character}"})
    assert refused(reply, "name"), reply.body
    reply = await api.post(customers, {"id": "ada", "description": f"gold{character}"})
    assert refused(reply, "description"), reply.body


async def test_names_keep_direction_marks_and_descriptions_keep_new_lines(ledger: Ledger) -> None:
    name = "\u05e9\u05dc\u05d5\u05dd\u200f 42"
    reply = await ledger.api.post(
        f"/projects/{ledger.project_id}/customers",
        {"id": "ada", "name": name, "description": "gold\ttier\nsince 2024"},
    )
    assert reply.status == 201, reply.body
    assert (reply.body["name"], reply.body["description"]) == (name, "gold\ttier\nsince 2024")


async def exchange(url: str, request: bytes) -> bytes:
    """Send raw bytes to the gateway on a new connection and read until it closes."""
    address = urlsplit(url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()
        await writer.wait_closed()


def oversized_requests(api_key: str) -> dict[str, bytes]:
    start = b"GET /projects HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "
    start += api_key.encode() + b"\r\n"
    many = b"".join(b"X-Header-%d: 1\r\n" % index for index in range(200))
    return {
        "long header value": start + b"X-Long: " + b"a" * 9000 + b"\r\n\r\n",
        "long header name": start + b"X-" + b"a" * 9000 + b": 1\r\n\r\n",
        "too many headers": start + many + b"\r\n",
        "long request line": b"GET /projects?" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    }


async def test_oversized_headers_get_aiohttps_plain_400_and_the_gateway_keeps_serving(
    api: Api,
) -> None:
    # aiohttp answers these before any application code runs (docs/api.md, "Hostile input"):
    # the answer cannot carry our JSON error shape, and this test pins what it does carry.
    for name, request in oversized_requests(api.api_key).items():
        answer = await exchange(api.base_url, request)
        head, _, body = answer.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        assert status in (400, 431), (name, head)
        assert b"text/plain" in head.lower(), (name, head)
        assert b"Traceback" not in body and b'File "' not in body, (name, body)
        assert len(body) < 300, (name, body)
        reply = await api.get("/projects")
        assert reply.status == 200, name


async def test_a_queue_message_with_a_bidi_reference_is_dead_lettered(ledger: Ledger) -> None:
    wallet = await ledger.system_wallet()
    project = ledger.project_id
    bad_id, good_id = new_id(), new_id()

    def body(message_id: str, reference_id: str) -> bytes:
        return orjson.dumps(
            {
                "v": 1,
                "id": message_id,
                "projectId": project,
                "referenceId": reference_id,
                "operations": [issue(wallet, 5)],
                "submittedAt": datetime.now(UTC).isoformat(),
            }
        )

    settings = namespace_settings()
    connection = await aio_pika.connect(settings.amqp_url.get_secret_value())
    try:
        channel = await connection.channel(publisher_confirms=True)
        queue = queue_name(partition_of(project, settings.partition_count))
        for message_id, reference_id in ((bad_id, "order\u202e1"), (good_id, "order-2")):
            await channel.default_exchange.publish(
                aio_pika.Message(
                    body(message_id, reference_id),
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    message_id=message_id,
                ),
                routing_key=queue,
            )
        final = await ledger.api.final(project, good_id)
        assert final["status"] == "Completed"
        dead = await channel.declare_queue(DEAD_LETTER_QUEUE, passive=True)
        found = False
        for _ in range(DEAD_LETTER_READS_MAX):
            message = await dead.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            await message.ack()
            found = found or message.message_id == bad_id
            if found:
                break
        assert found
    finally:
        await connection.close()
    assert await ledger.api.balance(project, wallet) == 5
    assert (await ledger.api.get(f"/projects/{project}/transactions/{bad_id}")).status == 404
