"""The ledger core against a table of cases, failures listed in descending precedence: each
row proves which code wins when several rules are broken at once."""

from __future__ import annotations

import pytest

from shared.core.ledger import (
    AMOUNT_MAX,
    Applied,
    EntryType,
    Failure,
    FailureCode,
    Operation,
    OperationType,
    Posting,
    Wallet,
    WalletStatus,
    apply,
)
from shared.errors import InvariantViolation
from tests.unit.ledger_values import issue, redeem, transfer

TRANSFER, ISSUE, REDEEM = OperationType.TRANSFER, OperationType.ISSUE, OperationType.REDEEM
OPEN, SUSPENDED, CLOSED = WalletStatus.OPEN, WalletStatus.SUSPENDED, WalletStatus.CLOSED


def wallets(*specs: tuple[str, str, WalletStatus, int]) -> dict[str, Wallet]:
    return {spec[0]: Wallet(*spec) for spec in specs}


W = wallets(
    ("w1", "pts", OPEN, 5),
    ("w2", "pts", OPEN, 7),
    ("usd", "usd", OPEN, 10),
    ("sus", "pts", SUSPENDED, 50),
    ("closed", "pts", CLOSED, 0),
    ("full", "pts", OPEN, AMOUNT_MAX),
)


FAILURES = [
    # (case, operations, failing operation index, code): in descending precedence.
    ("same wallet beats not found", [transfer("nope", "nope", 1)], 0, FailureCode.SAME_WALLET),
    ("same wallet beats funds", [transfer("w1", "w1", 99)], 0, FailureCode.SAME_WALLET),
    ("missing from beats mismatch", [transfer("nope", "usd", 1)], 0, FailureCode.WALLET_NOT_FOUND),
    ("missing to", [transfer("w1", "nope", 1)], 0, FailureCode.WALLET_NOT_FOUND),
    ("issue to a missing wallet", [issue("nope", 1)], 0, FailureCode.WALLET_NOT_FOUND),
    ("redeem from a missing wallet", [redeem("nope", 1)], 0, FailureCode.WALLET_NOT_FOUND),
    ("mismatch beats not open", [transfer("sus", "usd", 1)], 0, FailureCode.ASSET_MISMATCH),
    ("mismatch beats funds", [transfer("w1", "usd", 99)], 0, FailureCode.ASSET_MISMATCH),
    ("suspended from beats funds", [transfer("sus", "w1", 99)], 0, FailureCode.WALLET_NOT_OPEN),
    ("closed to", [transfer("w1", "closed", 1)], 0, FailureCode.WALLET_NOT_OPEN),
    ("issue to suspended", [issue("sus", 1)], 0, FailureCode.WALLET_NOT_OPEN),
    ("redeem from closed", [redeem("closed", 1)], 0, FailureCode.WALLET_NOT_OPEN),
    ("funds beat overflow", [transfer("w1", "full", 6)], 0, FailureCode.INSUFFICIENT_FUNDS),
    ("redeem more than held", [redeem("w1", 6)], 0, FailureCode.INSUFFICIENT_FUNDS),
    ("issue past the maximum", [issue("full", 1)], 0, FailureCode.BALANCE_OVERFLOW),
    ("transfer past the maximum", [transfer("w1", "full", 1)], 0, FailureCode.BALANCE_OVERFLOW),
    (
        "the docs example: transfer 11 before the issue fails",
        [transfer("w1", "w2", 11), issue("w1", 6)],
        0,
        FailureCode.INSUFFICIENT_FUNDS,
    ),
    (
        "a later operation fails on what earlier ones spent",
        [transfer("w1", "w2", 5), redeem("w1", 1)],
        1,
        FailureCode.INSUFFICIENT_FUNDS,
    ),
    (
        "the first failing operation is reported",
        [issue("w1", 1), issue("nope", 1), issue("sus", 1)],
        1,
        FailureCode.WALLET_NOT_FOUND,
    ),
]


@pytest.mark.parametrize(
    ("operations", "index", "code"),
    [case[1:] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
def test_failures_by_precedence(operations: list[Operation], index: int, code: FailureCode) -> None:
    result = apply(W, operations)
    assert isinstance(result, Failure)
    assert (result.operation_index, result.code) == (index, code)


def test_docs_example_succeeds_with_the_issue_first() -> None:
    result = apply(W, [issue("w1", 6), transfer("w1", "w2", 11)])
    assert isinstance(result, Applied)
    assert result.balances == {"w1": 0, "w2": 18}
    assert result.postings == (
        Posting("w1", 0, EntryType.ISSUE, 6, 11, None),
        Posting("w1", 1, EntryType.DEBIT, 11, 0, "w2"),
        Posting("w2", 1, EntryType.CREDIT, 11, 18, "w1"),
    )


def test_redeem_posts_redeem_entry() -> None:
    result = apply(W, [redeem("w2", 7)])
    assert isinstance(result, Applied)
    assert result.balances == {"w2": 0}
    assert result.postings == (Posting("w2", 0, EntryType.REDEEM, 7, 0, None),)


def test_exact_balance_and_exact_maximum_succeed() -> None:
    result = apply(W, [transfer("w1", "w2", 5), issue("w1", AMOUNT_MAX)])
    assert isinstance(result, Applied)
    assert result.balances == {"w1": AMOUNT_MAX, "w2": 12}


def test_the_input_wallets_are_not_changed() -> None:
    before = dict(W)
    apply(W, [transfer("w1", "w2", 5)])
    assert before == W


@pytest.mark.parametrize(
    "operations",
    [
        [],
        [Operation(ISSUE, 0, None, "w1")],
        [Operation(ISSUE, AMOUNT_MAX + 1, None, "w1")],
        [Operation(TRANSFER, 1, "w1", None)],
        [Operation(ISSUE, 1, "w1", "w2")],
        [Operation(REDEEM, 1, None, "w1")],
    ],
    ids=["empty", "zero", "too large", "transfer without to", "issue with from", "redeem with to"],
)
def test_malformed_operations_are_programmer_errors(operations: list[Operation]) -> None:
    with pytest.raises(InvariantViolation):
        apply(W, operations)
