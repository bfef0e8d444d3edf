"""The wire formats: what a submitted transaction and a queue message accept and refuse, and
the JSON decoding that keeps wide integers exact and refuses floats."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from gateway.http import decode_json
from shared.contract.messages import (
    SubmitTransaction,
    TransactionBatchMessage,
    TransactionMessage,
    format_time,
    message_body,
    operations_json,
    request_digest,
)
from shared.contract.partition import partition_of, queue_name, routing_key
from shared.core.ledger import AMOUNT_MAX
from shared.errors import ValidationFailed


def submit(
    operations: list[dict[str, object]], reference_id: str = "r1", **context: int
) -> SubmitTransaction:
    return SubmitTransaction.model_validate(
        {"referenceId": reference_id, "operations": operations}, context=context
    )


@pytest.mark.parametrize("amount", ["1", 1, "2000", str(AMOUNT_MAX), AMOUNT_MAX, "007"])
def test_valid_amounts(amount: object) -> None:
    parsed = submit([{"type": "Issue", "to": "w1", "amount": amount}])
    assert parsed.operations[0].amount == int(str(amount))


@pytest.mark.parametrize(
    "amount",
    [
        "0",
        0,
        "-1",
        -1,
        1.5,
        1.0,
        "1.5",
        "1e3",
        "",
        " 1",
        "abc",
        True,
        None,
        [1],
        str(AMOUNT_MAX + 1),
        AMOUNT_MAX + 1,
        "NaN",
        "\uff11",  # a full-width digit one
    ],
)
def test_invalid_amounts(amount: object) -> None:
    with pytest.raises(ValidationError):
        submit([{"type": "Issue", "to": "w1", "amount": amount}])


@pytest.mark.parametrize(
    "operation",
    [
        {"type": "Transfer", "from": "a", "amount": "1"},
        {"type": "Transfer", "to": "a", "amount": "1"},
        {"type": "Issue", "amount": "1"},
        {"type": "Issue", "to": "a", "from": "b", "amount": "1"},
        {"type": "Redeem", "to": "a", "amount": "1"},
        {"type": "Mint", "to": "a", "amount": "1"},
        {"to": "a", "amount": "1"},
        {"type": "Issue", "to": "", "amount": "1"},
        {"type": "Issue", "to": "a/b", "amount": "1"},
    ],
)
def test_operations_need_exactly_their_wallets(operation: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        submit([operation])


def test_reference_id_and_operation_limits_follow_the_settings() -> None:
    issue = {"type": "Issue", "to": "w1", "amount": "1"}
    submit([issue] * 100, reference_id="x" * 128)
    with pytest.raises(ValidationError):
        submit([issue] * 101)
    with pytest.raises(ValidationError):
        submit([issue], reference_id="x" * 129)
    with pytest.raises(ValidationError):
        submit([issue] * 3, operations_per_transaction_max=2)
    with pytest.raises(ValidationError):
        submit([issue], reference_id="")
    with pytest.raises(ValidationError):
        submit([issue], reference_id="bad\nid")


def test_queue_message_round_trip_keeps_amounts_as_strings() -> None:
    message = TransactionMessage.model_validate(
        {
            "v": 1,
            "id": "01ABC",
            "projectId": "p1",
            "referenceId": "r1",
            "operations": [{"type": "Transfer", "from": "a", "to": "b", "amount": AMOUNT_MAX}],
            "submittedAt": "2026-01-02T03:04:05.678Z",
        }
    )
    again = TransactionMessage.model_validate_json(message.to_json())
    assert again == message
    assert b'"amount":"170141183460469231731687303715884105727"' in message.to_json()


def test_queue_message_refuses_other_versions_and_unknown_fields() -> None:
    base = {
        "id": "01ABC",
        "projectId": "p1",
        "referenceId": "r1",
        "operations": [{"type": "Issue", "to": "a", "amount": "1"}],
        "submittedAt": "2026-01-02T03:04:05Z",
    }
    with pytest.raises(ValidationError):
        TransactionMessage.model_validate(base | {"v": 2})
    with pytest.raises(ValidationError):
        TransactionMessage.model_validate(base | {"v": 1, "extra": True})


def test_request_digest_ignores_how_amounts_were_written() -> None:
    as_string = submit([{"type": "Issue", "to": "w1", "amount": "10"}])
    as_integer = submit([{"amount": 10, "to": "w1", "type": "Issue"}])
    other = submit([{"type": "Issue", "to": "w1", "amount": "11"}])
    digest = request_digest(operations_json(as_string.operations))
    assert digest == request_digest(operations_json(as_integer.operations))
    assert digest != request_digest(operations_json(other.operations))


def test_decode_json_keeps_wide_integers_and_refuses_floats() -> None:
    assert decode_json(b'{"a": 170141183460469231731687303715884105727}') == {
        "a": 170141183460469231731687303715884105727
    }
    for body in (
        b'{"a": 1.5}',
        b'{"a": 1e3}',
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"{",
        b'{"a": 1.7e38}',
        b"\xff",
    ):
        with pytest.raises(ValidationFailed):
            decode_json(body)


def test_partition_function_is_crc32_mod_p() -> None:
    # crc32("hello") is 0x3610A686 = 907060870 by the standard's own test vectors.
    assert partition_of("hello", 16) == 907060870 % 16 == 6
    assert partition_of("hello", 7) == 907060870 % 7
    assert partition_of("héllo", 16) == zlib.crc32("héllo".encode()) % 16
    assert {partition_of(f"p{index}", 16) for index in range(200)} == set(range(16))
    assert routing_key(3) == "partition.3"
    assert queue_name(3) == "cloudwallet.transactions.3"


def test_times_are_utc_with_milliseconds() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert format_time(moment) == "2026-01-02T03:04:05.678Z"


def batch_item(project_id: str, reference_id: str) -> dict[str, object]:
    return {
        "id": f"tx-{reference_id}",
        "projectId": project_id,
        "referenceId": reference_id,
        "operations": [{"type": "Issue", "to": "w1", "amount": "5"}],
        "submittedAt": "2026-01-01T00:00:00.000Z",
    }


def test_a_batch_message_carries_transactions_of_one_project_in_order() -> None:
    batch = TransactionBatchMessage.model_validate_json(
        orjson.dumps({"v": 1, "transactions": [batch_item("p1", "a"), batch_item("p1", "b")]})
    )
    assert [message.reference_id for message in batch.transactions] == ["a", "b"]
    assert all(isinstance(message, TransactionMessage) for message in batch.transactions)


@pytest.mark.parametrize(
    "transactions",
    [[], [batch_item("p1", "a"), batch_item("p2", "b")], [{**batch_item("p1", "a"), "v": 2}]],
)
def test_a_batch_message_refuses_mixed_projects_empty_lists_and_bad_items(
    transactions: list[dict[str, object]],
) -> None:
    with pytest.raises(ValidationError):
        TransactionBatchMessage.model_validate_json(
            orjson.dumps({"v": 1, "transactions": transactions})
        )


def test_message_body_is_a_valid_transaction_message() -> None:
    submitted_at = datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)
    operations = operations_json(submit([{"type": "Issue", "to": "w1", "amount": 7}]).operations)
    body = message_body(
        transaction_id="tx1",
        project_id="p1",
        reference_id="r1",
        operations=operations,
        submitted_at=submitted_at,
    )
    parsed = TransactionMessage.model_validate_json(orjson.dumps(body))
    assert (parsed.id, parsed.project_id, parsed.reference_id) == ("tx1", "p1", "r1")
    assert parsed.submitted_at == submitted_at
    assert operations_json(parsed.operations) == operations


wallet_ids = st.from_regex(r"[A-Za-z0-9_-]{1,26}", fullmatch=True)
amounts = st.integers(min_value=1, max_value=AMOUNT_MAX)
plain_operations = st.one_of(
    st.builds(
        lambda f, t, a: {"type": "Transfer", "from": f, "to": t, "amount": a},
        wallet_ids,
        wallet_ids,
        amounts,
    ),
    st.builds(lambda t, a: {"type": "Issue", "to": t, "amount": str(a)}, wallet_ids, amounts),
    st.builds(lambda f, a: {"type": "Redeem", "from": f, "amount": a}, wallet_ids, amounts),
)
operations_on_holds = st.sampled_from(
    [
        {"type": "Hold", "from": "w1", "amount": "5"},
        {"type": "Hold", "from": "w1", "to": "w2", "amount": 5, "timeoutS": 60},
        {"type": "Capture", "holdId": "t1-0"},
        {"type": "Capture", "holdId": "t1-0", "amount": "2"},
        {"type": "Void", "holdId": "t1-0"},
    ]
)


@given(st.lists(st.one_of(plain_operations, operations_on_holds), min_size=1, max_size=8))
def test_operations_json_is_the_models_own_dump(operations: list[dict[str, object]]) -> None:
    """The plain operations' JSON is written out for speed: it must be what pydantic gives."""
    parsed = submit(operations).operations
    expected = [op.model_dump(mode="json", by_alias=True, exclude_none=True) for op in parsed]
    assert operations_json(parsed) == expected
    assert [list(op) for op in operations_json(parsed)] == [list(op) for op in expected]
