"""`queue_messages`, how the gateway packs transactions into partition queue messages: cases,
and a property over generated transactions and size limits: the messages carry every
transaction once, in order, each decodes as the worker decodes it, none holding several
transactions is over the limit, and no two neighbours would have fit in one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.messages import (
    QueueMessage,
    TransactionBatchMessage,
    TransactionMessage,
    message_body,
    queue_messages,
)

SUBMITTED_AT = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)


def body(number: int, operations: int = 1, reference_length: int = 8) -> dict[str, Any]:
    transfer = {"type": "Transfer", "from": "w-from", "to": "w-to", "amount": str(number + 1)}
    return message_body(
        transaction_id=f"tx{number}",
        project_id="p1",
        reference_id=f"r{number}".ljust(reference_length, "x"),
        operations=[transfer] * operations,
        submitted_at=SUBMITTED_AT,
    )


def decoded(message: QueueMessage) -> list[TransactionMessage]:
    """The transactions of a message, decoded as `worker/delivery.py` decodes a delivery."""
    if message.batch:
        return TransactionBatchMessage.model_validate_json(message.body).transactions
    return [TransactionMessage.model_validate_json(message.body)]


def test_transactions_that_fit_share_one_batch_message() -> None:
    bodies = [body(number) for number in range(10)]
    (message,) = queue_messages(bodies, 64 * 1024)
    assert message.batch
    assert message.message_id == "tx0"
    assert message.body == orjson.dumps({"v": 1, "transactions": bodies})


def test_one_transaction_travels_as_a_plain_message() -> None:
    (message,) = queue_messages([body(0)], 1024)
    assert (message.batch, message.message_id, message.body) == (
        False,
        "tx0",
        orjson.dumps(body(0)),
    )


def test_a_transaction_larger_than_the_limit_travels_alone() -> None:
    large = body(1, operations=100)
    assert len(orjson.dumps(large)) > 1024
    messages = queue_messages([body(0), large, body(2)], 1024)
    assert [(m.message_id, m.batch) for m in messages] == [
        ("tx0", False),
        ("tx1", False),
        ("tx2", False),
    ]


def test_a_batch_over_the_limit_is_split_in_order() -> None:
    bodies = [body(number) for number in range(40)]
    messages = queue_messages(bodies, 2048)
    assert len(messages) > 1
    assert all(len(message.body) <= 2048 for message in messages)
    ids = [transaction.id for message in messages for transaction in decoded(message)]
    assert ids == [f"tx{number}" for number in range(40)]


@settings(max_examples=200, deadline=None)
@given(
    shapes=st.lists(st.tuples(st.integers(1, 30), st.integers(1, 128)), min_size=1, max_size=60),
    bytes_max=st.integers(1024, 16 * 1024),
)
def test_every_transaction_once_in_order_within_the_limit(
    shapes: list[tuple[int, int]], bytes_max: int
) -> None:
    bodies = [body(number, *shape) for number, shape in enumerate(shapes)]
    messages = queue_messages(bodies, bytes_max)
    groups = [decoded(message) for message in messages]
    assert [t.id for group in groups for t in group] == [b["id"] for b in bodies]
    for message, group in zip(messages, groups, strict=True):
        assert message.message_id == group[0].id
        assert message.batch == (len(group) > 1)
        if message.batch:
            assert len(message.body) <= bytes_max
    # Greedy: the first transaction of each message did not fit in the message before it.
    sizes = [len(orjson.dumps(b)) for b in bodies]
    start = 0
    for group in groups[:-1]:
        end = start + len(group)
        together = len(b'{"v":1,"transactions":[]}') + sum(sizes[start : end + 1]) + (end - start)
        assert together > bytes_max
        start = end
