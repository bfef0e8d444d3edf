"""Request ids: the gateway keeps a client's sane X-Request-Id and makes one otherwise
(gateway/access.py); the publisher writes each message's transactions' request ids, in order,
in its cloudwallet-request-ids header, however the transactions are split among messages
(shared/contract/headers.py); the worker reads each transaction's own back from a delivery
(worker/delivery.py)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import make_mocked_request

from gateway.access import request_id_of
from shared.contract.headers import REQUEST_IDS_HEADER, message_headers
from shared.contract.messages import TransactionMessage, queue_messages
from shared.ids import RequestIds, new_id
from worker.delivery import Delivery

LENGTH_MAX = 128


MADE = RequestIds()


def presented(value: str | None) -> str:
    headers = {} if value is None else {"X-Request-Id": value}
    request = make_mocked_request("GET", "/health", headers=headers)
    return request_id_of(request, LENGTH_MAX, MADE)


def test_a_sane_request_id_is_kept_and_any_other_replaced() -> None:
    for sane in ("a", "client-1.retry:2_x", "x" * LENGTH_MAX):
        assert presented(sane) == sane
    for insane in (None, "", "x" * (LENGTH_MAX + 1), "with space", "a,b", "é", "a\tb"):
        made = presented(insane)
        assert made != insane
        assert len(made) == 24
        assert int(made, 16) >= 0


def test_new_request_ids_differ_within_a_process_and_between_processes() -> None:
    first, second = RequestIds(), RequestIds()  # two processes' generators
    made = [first.new() for _ in range(1000)] + [second.new() for _ in range(1000)]
    assert len(set(made)) == len(made)


def body(number: int) -> dict[str, Any]:
    return {
        "v": 1,
        "id": new_id(),
        "projectId": "p1",
        "referenceId": f"r{number}",
        "operations": [{"type": "Issue", "to": "w1", "amount": "1"}],
        "submittedAt": "2026-12-06T00:00:00.000Z",
    }


def test_each_message_carries_the_request_ids_of_its_own_transactions_in_order() -> None:
    bodies = [body(number) for number in range(40)]
    request_ids = [None if number % 7 == 3 else f"req-{number}" for number in range(40)]
    messages = queue_messages(bodies, 1024)  # small messages: the bodies split among several
    assert len(messages) > 3
    headers = message_headers(messages, bodies, {REQUEST_IDS_HEADER: request_ids})
    assert len(headers) == len(messages)
    carried = [
        entry
        for header in headers
        for entry in (header or {REQUEST_IDS_HEADER: ""})[REQUEST_IDS_HEADER].split(",")
    ]
    assert carried == [request_id or "" for request_id in request_ids]


def test_a_message_whose_transactions_share_a_request_id_carries_it_once() -> None:
    bodies = [body(number) for number in range(5)]
    messages = queue_messages(bodies, 1 << 20)
    (header,) = message_headers(messages, bodies, {REQUEST_IDS_HEADER: ["batch-1"] * 5})
    assert header == {REQUEST_IDS_HEADER: "batch-1"}
    parsed = [TransactionMessage.model_validate(one) for one in bodies]
    received = Delivery(Delivered(header))  # type: ignore[arg-type]
    received.bind_headers(parsed)
    assert [received.request_id_of(message.id) for message in parsed] == ["batch-1"] * 5


def test_messages_without_any_request_id_carry_no_header() -> None:
    bodies = [body(number) for number in range(3)]
    messages = queue_messages(bodies, 1 << 20)
    assert message_headers(messages, bodies, {REQUEST_IDS_HEADER: [None] * 3}) == [None]


class Header:
    def __init__(self, headers: dict[str, Any] | None) -> None:
        self.properties = type("Properties", (), {"headers": headers})()


class Delivered:
    def __init__(self, headers: dict[str, Any] | None) -> None:
        self.header = Header(headers)


def test_a_delivery_gives_each_transaction_its_own_request_id() -> None:
    messages = [TransactionMessage.model_validate(body(number)) for number in range(3)]
    received = Delivery(Delivered({REQUEST_IDS_HEADER: "a,,c"}))  # type: ignore[arg-type]
    received.bind_headers(messages)
    assert [received.request_id_of(message.id) for message in messages] == ["a", None, "c"]
    plain = Delivery(Delivered(None))  # type: ignore[arg-type]
    plain.bind_headers(messages)
    assert plain.request_id_of(messages[0].id) is None
