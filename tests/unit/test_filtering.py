"""The filtered lists' statements and query strings: a statement holds the conditions of the
filters given and only those, numbered in order with their values as parameters (never in the
text); metadata filters read as one mapping, named `metadata[key]` in errors; each list's query
refuses unknown parameters and values outside its enums."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gateway.filtering import PARAMETERS_MAX, Select
from gateway.handlers import customer_list, transaction_list, wallet_list
from gateway.http import field_errors
from gateway.listing import LATEST
from gateway.query_strings import CustomerQuery, TransactionQuery, WalletQuery
from shared.errors import InvariantViolation

CONTEXT = {"page_size_max": 500}


def test_a_select_numbers_its_parameters_in_order() -> None:
    select = Select("SELECT * FROM t WHERE a = $", "x")
    select.where("b = $ AND c > $", 1, 2).where("d IS NULL")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    select.window("created_at", (start, None))
    statement, arguments = select.statement("ORDER BY id LIMIT $ OFFSET $", 51, 0)
    assert statement == (
        "SELECT * FROM t WHERE a = $1 AND b = $2 AND c > $3 AND d IS NULL"
        " AND created_at >= $4 ORDER BY id LIMIT $5 OFFSET $6"
    )
    assert arguments == ["x", 1, 2, start, 51, 0]


def test_a_fragment_takes_exactly_its_values_and_a_bounded_count() -> None:
    with pytest.raises(InvariantViolation):
        Select("SELECT 1 WHERE a = $")
    with pytest.raises(InvariantViolation):
        Select("SELECT 1 WHERE true").where("a = $", 1, 2)
    select = Select("SELECT 1 WHERE true")
    with pytest.raises(InvariantViolation):
        for index in range(PARAMETERS_MAX + 1):
            select.where("a = $", index)


def transactions(values: dict[str, object]) -> TransactionQuery:
    return TransactionQuery.model_validate(values, context=CONTEXT)


def test_the_transaction_list_has_the_conditions_of_its_filters_only() -> None:
    plain, arguments = transaction_list.list_statement("p", transactions({}), 50)
    assert "entries" not in plain and "status" not in plain and "metadata" not in plain
    assert arguments == ["p", LATEST, "", 51, 0]  # a page starts at the end, newest first
    query = transactions(
        {"walletId": "w", "status": "Failed", "referenceId": "r", "metadata": {"k": "v"}}
    )
    statement, arguments = transaction_list.list_statement("p", query, 10)
    assert "status = 'Failed'" in statement
    assert "e.wallet_id = $" in statement and "metadata @> $" in statement
    assert arguments == ["p", "r", "w", {"k": "v"}, LATEST, "", 11, 0]
    assert "Failed" not in arguments  # a status is a constant of the statement, for its index


def test_the_wallet_and_customer_lists_use_their_partial_indexes_conditions() -> None:
    query = WalletQuery.model_validate(
        {"type": "system", "status": "Closed", "metadata": {"a": "b"}}, context=CONTEXT
    )
    statement, arguments = wallet_list.list_statement("p", query, 50)
    assert "customer_id IS NULL" in statement and "status = 'Closed'" in statement
    assert "metadata <> '{}' AND metadata @> $" in statement
    assert arguments == ["p", {"a": "b"}, 51, 0]
    customers = CustomerQuery.model_validate({"status": "Suspended"}, context=CONTEXT)
    statement, _ = customer_list.list_statement("p", customers, 50)
    assert "deleted_at IS NULL AND status = 'Suspended'" in statement


@pytest.mark.parametrize(
    ("model", "values", "field"),
    [
        (TransactionQuery, {"status": "Done"}, "status"),
        (TransactionQuery, {"walletid": "w"}, "walletid"),
        (TransactionQuery, {"metadata": {"bad key": "v"}}, "metadata[bad key]"),
        (TransactionQuery, {"metadata": {"k": "v" * 513}}, "metadata[k]"),
        (TransactionQuery, {"metadata": "v"}, "metadata"),
        (WalletQuery, {"type": "user"}, "type"),
        (WalletQuery, {"status": "Active"}, "status"),
        (WalletQuery, {"order": "asc"}, "order"),
        (WalletQuery, {"cursor": "abc", "page": "2"}, "cursor"),
        (CustomerQuery, {"status": "Open"}, "status"),
        (CustomerQuery, {"cursor": "abc"}, "cursor"),
    ],
)
def test_bad_filters_are_refused_and_named(
    model: type[TransactionQuery | WalletQuery | CustomerQuery],
    values: dict[str, object],
    field: str,
) -> None:
    with pytest.raises(ValidationError) as raised:
        model.model_validate(values, context=CONTEXT)
    assert field in [item["field"] for item in field_errors(raised.value, "query")]
