"""The headers that follow a message's transactions (shared/contract/headers.py): a table of
entries and their header values, both ways, and a property over generated transactions,
entries and message sizes: however the transactions are split among messages, the worker reads
back each transaction's own request id and traceparent (worker/delivery.py), and a message
whose transactions have none carries no header."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.contract.headers import (
    REQUEST_IDS_HEADER,
    TRACEPARENTS_HEADER,
    decode_entries,
    encode_entries,
    message_headers,
)
from shared.contract.messages import (
    TransactionBatchMessage,
    TransactionMessage,
    queue_messages,
)
from shared.ids import new_id
from worker.delivery import Delivery

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
OTHER_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.mark.parametrize(
    ("entries", "value"),
    [
        ([], None),
        ([None], None),
        ([None, None, None], None),
        (["", None], None),
        (["a"], "a"),
        (["a", "a", "a"], "a"),  # every transaction's
        ([TRACEPARENT] * 2, TRACEPARENT),
        (["a", "b"], "a,b"),
        (["a", None, "c"], "a,,c"),
        ([None, "b"], ",b"),
        (["a", None], "a,"),
        ([TRACEPARENT, OTHER_TRACEPARENT], f"{TRACEPARENT},{OTHER_TRACEPARENT}"),
    ],
)
def test_entries_encode_as_a_header_value(entries: list[str | None], value: str | None) -> None:
    assert encode_entries(entries) == value


@pytest.mark.parametrize(
    ("value", "count", "entries"),
    [
        (None, 3, None),
        ("a", 3, ["a", "a", "a"]),
        (b"a", 2, ["a", "a"]),  # pamqp may hand a table's string over as bytes
        ("a,b", 2, ["a", "b"]),
        ("a,,c", 3, ["a", "", "c"]),
        ("a,b", 3, ["a", "b", ""]),  # another publisher's header, short of entries
        ("a,b,c", 2, ["a", "b"]),  # or with more than the message carries
        (b"\xff,x", 2, ["\ufffd", "x"]),
    ],
)
def test_a_header_value_decodes_as_one_entry_per_transaction(
    value: Any, count: int, entries: list[str] | None
) -> None:
    assert decode_entries(value, count) == entries


def body(number: int, reference_length: int) -> dict[str, Any]:
    return {
        "v": 1,
        "id": new_id(),
        "projectId": "p1",
        "referenceId": f"r{number}".ljust(reference_length, "x"),
        "operations": [{"type": "Issue", "to": "w1", "amount": "1"}],
        "submittedAt": "2026-12-06T00:00:00.000Z",
    }


class Header:
    def __init__(self, headers: dict[str, Any] | None) -> None:
        self.properties = type("Properties", (), {"headers": headers})()


class Delivered:
    def __init__(self, headers: dict[str, Any] | None) -> None:
        self.header = Header(headers)


request_ids = st.none() | st.text("abcXYZ019._:-", min_size=1, max_size=12)
traceparents = st.none() | st.sampled_from([TRACEPARENT, OTHER_TRACEPARENT])


@given(
    st.lists(st.tuples(request_ids, traceparents, st.integers(1, 120)), min_size=1, max_size=40),
    st.integers(256, 4096),
)
def test_each_transaction_is_read_back_with_its_own_entries_however_messages_split(
    transactions: list[tuple[str | None, str | None, int]], bytes_max: int
) -> None:
    bodies = [body(number, length) for number, (_, _, length) in enumerate(transactions)]
    ids = [request_id for request_id, _, _ in transactions]
    parents = [traceparent for _, traceparent, _ in transactions]
    messages = queue_messages(bodies, bytes_max)
    followed = {REQUEST_IDS_HEADER: ids, TRACEPARENTS_HEADER: parents}
    headers = message_headers(messages, bodies, followed)
    assert len(headers) == len(messages)
    read_ids: list[str | None] = []
    read_parents: list[str | None] = []
    carried = iter(bodies)
    for message, header in zip(messages, headers, strict=True):
        parsed = (
            TransactionBatchMessage.model_validate_json(message.body).transactions
            if message.batch
            else [TransactionMessage.model_validate_json(message.body)]
        )
        assert [one.id for one in parsed] == [next(carried)["id"] for _ in parsed]
        if header is not None:
            assert set(header) <= {REQUEST_IDS_HEADER, TRACEPARENTS_HEADER}
            assert all(value for value in header.values())
        received = Delivery(Delivered(header))  # type: ignore[arg-type]
        received.bind_headers(parsed)
        read_ids += [received.request_id_of(one.id) for one in parsed]
        read_parents += [received.traceparent_of(one.id) for one in parsed]
    assert read_ids == ids
    assert read_parents == parents
