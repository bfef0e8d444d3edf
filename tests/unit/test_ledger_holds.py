"""Holds in the ledger core against a table of cases, failures listed in descending precedence
(after the codes of test_ledger_cases.py): each row proves which code wins when several rules
are broken at once; then the postings, held balances and holds a success leaves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.core.ledger import (
    AMOUNT_MAX,
    HOLD_TIMEOUT_S_MAX,
    AnyOperation,
    Applied,
    CaptureOperation,
    EntryType,
    ExpireOperation,
    Failure,
    FailureCode,
    Hold,
    HoldOperation,
    HoldStatus,
    Posting,
    VoidOperation,
    Wallet,
    WalletStatus,
    apply,
)
from shared.errors import InvariantViolation
from tests.unit.ledger_values import issue, redeem, transfer

OPEN, SUSPENDED, CLOSED = WalletStatus.OPEN, WalletStatus.SUSPENDED, WalletStatus.CLOSED
PENDING, CAPTURED = HoldStatus.PENDING, HoldStatus.CAPTURED
VOIDED, EXPIRED = HoldStatus.VOIDED, HoldStatus.EXPIRED
HOLD, RELEASE = EntryType.HOLD, EntryType.RELEASE
DEBIT, CREDIT, REDEEM = EntryType.DEBIT, EntryType.CREDIT, EntryType.REDEEM
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def holds(
    *specs: tuple[str, str, str | None, int, int, HoldStatus, datetime | None],
) -> dict[str, Hold]:
    return {spec[0]: Hold(*spec) for spec in specs}


H = holds(
    ("pending", "a", "b", 4, 0, PENDING, NOW + 60 * SECOND),
    ("redeemable", "a", None, 2, 0, PENDING, None),
    ("due", "c", "b", 3, 0, PENDING, NOW),
    ("late", "c", "b", 1, 0, PENDING, NOW - SECOND),
    ("early", "c", "b", 1, 0, PENDING, NOW + timedelta(microseconds=1)),
    ("to_sus", "c", "sus", 2, 0, PENDING, None),
    ("to_full", "c", "full", 3, 0, PENDING, None),
    ("on_sus", "sus", "b", 5, 0, PENDING, None),
    ("captured", "a", "b", 5, 5, CAPTURED, None),
    ("voided", "a", "b", 5, 0, VOIDED, None),
    ("expired", "a", "b", 5, 0, EXPIRED, NOW - 10 * SECOND),
)
W = {
    wallet.id: wallet
    for wallet in (
        Wallet("a", "pts", OPEN, 10, 6),  # pending 4 + redeemable 2: 4 available
        Wallet("b", "pts", OPEN, 7),
        Wallet("c", "pts", OPEN, 20, 10),  # due, late, early, to_sus, to_full
        Wallet("usd", "usd", OPEN, 10),
        Wallet("sus", "pts", SUSPENDED, 50, 5),  # on_sus
        Wallet("closed", "pts", CLOSED, 0),
        Wallet("full", "pts", OPEN, AMOUNT_MAX),
    )
}


def hold(source: str, target: str | None, amount: int, hold_id: str = "new") -> HoldOperation:
    return HoldOperation(hold_id, source, amount, target)


def capture(hold_id: str, amount: int | None = None) -> CaptureOperation:
    return CaptureOperation(hold_id, amount)


void, expire = VoidOperation, ExpireOperation

FAILURES: list[tuple[str, list[AnyOperation], int, FailureCode]] = [
    # (case, operations, failing operation index, code): in descending precedence.
    ("hold: same wallet beats not found", [hold("nope", "nope", 1)], 0, FailureCode.SAME_WALLET),
    ("hold from a missing wallet", [hold("nope", "b", 1)], 0, FailureCode.WALLET_NOT_FOUND),
    ("hold to a missing wallet", [hold("a", "nope", 1)], 0, FailureCode.WALLET_NOT_FOUND),
    ("hold: mismatch beats not open", [hold("sus", "usd", 1)], 0, FailureCode.ASSET_MISMATCH),
    ("hold from suspended beats funds", [hold("sus", "b", 99)], 0, FailureCode.WALLET_NOT_OPEN),
    ("hold to a closed wallet", [hold("a", "closed", 1)], 0, FailureCode.WALLET_NOT_OPEN),
    ("hold from a closed wallet", [hold("closed", None, 1)], 0, FailureCode.WALLET_NOT_OPEN),
    ("capture from a suspended wallet", [capture("on_sus")], 0, FailureCode.WALLET_NOT_OPEN),
    ("capture: not open beats exceeding", [capture("on_sus", 99)], 0, FailureCode.WALLET_NOT_OPEN),
    ("capture to a suspended wallet", [capture("to_sus")], 0, FailureCode.WALLET_NOT_OPEN),
    ("hold more than available", [hold("a", "b", 5)], 0, FailureCode.INSUFFICIENT_FUNDS),
    ("hold: funds beat overflow", [hold("a", "full", 5)], 0, FailureCode.INSUFFICIENT_FUNDS),
    ("transfer more than available", [transfer("a", "b", 5)], 0, FailureCode.INSUFFICIENT_FUNDS),
    ("redeem more than available", [redeem("a", 5)], 0, FailureCode.INSUFFICIENT_FUNDS),
    ("hold to a full wallet", [hold("a", "full", 1)], 0, FailureCode.BALANCE_OVERFLOW),
    ("capture to a full wallet", [capture("to_full")], 0, FailureCode.BALANCE_OVERFLOW),
    ("capture: overflow beats exceeding", [capture("to_full", 4)], 0, FailureCode.BALANCE_OVERFLOW),
    ("capture of an unknown hold", [capture("nope")], 0, FailureCode.HOLD_NOT_FOUND),
    ("void of an unknown hold", [void("nope")], 0, FailureCode.HOLD_NOT_FOUND),
    ("expire of an unknown hold", [expire("nope")], 0, FailureCode.HOLD_NOT_FOUND),
    ("capture at the instant", [capture("due")], 0, FailureCode.HOLD_EXPIRED),
    ("capture after the instant", [capture("late")], 0, FailureCode.HOLD_EXPIRED),
    ("capture: expiry beats exceeding", [capture("late", 99)], 0, FailureCode.HOLD_EXPIRED),
    ("capture of an Expired hold", [capture("expired")], 0, FailureCode.HOLD_EXPIRED),
    ("void at the instant", [void("due")], 0, FailureCode.HOLD_EXPIRED),
    ("void of an Expired hold", [void("expired")], 0, FailureCode.HOLD_EXPIRED),
    ("expire of an Expired hold", [expire("expired")], 0, FailureCode.HOLD_EXPIRED),
    ("capture of a Captured hold", [capture("captured")], 0, FailureCode.HOLD_NOT_PENDING),
    ("capture of a Voided hold", [capture("voided", 1)], 0, FailureCode.HOLD_NOT_PENDING),
    ("void of a Captured hold", [void("captured")], 0, FailureCode.HOLD_NOT_PENDING),
    ("expire of a Voided hold", [expire("voided")], 0, FailureCode.HOLD_NOT_PENDING),
    ("capture more than the hold", [capture("pending", 5)], 0, FailureCode.CAPTURE_EXCEEDS_HOLD),
    ("expire before the instant", [expire("early")], 0, FailureCode.HOLD_NOT_EXPIRED),
    ("expire a hold that never expires", [expire("redeemable")], 0, FailureCode.HOLD_NOT_EXPIRED),
    (
        "a hold resolves at most once in a transaction",
        [void("pending"), capture("pending")],
        1,
        FailureCode.HOLD_NOT_PENDING,
    ),
    (
        "a hold made in the transaction is captured within it, up to its amount",
        [hold("a", "b", 3, "made"), capture("made", 4)],
        1,
        FailureCode.CAPTURE_EXCEEDS_HOLD,
    ),
    (
        "a later operation fails on what a hold reserved",
        [hold("a", None, 4), transfer("a", "b", 1)],
        1,
        FailureCode.INSUFFICIENT_FUNDS,
    ),
    (
        "the first failing operation is reported",
        [void("pending"), capture("nope"), capture("due")],
        1,
        FailureCode.HOLD_NOT_FOUND,
    ),
]


@pytest.mark.parametrize(
    ("operations", "index", "code"),
    [case[1:] for case in FAILURES],
    ids=[case[0] for case in FAILURES],
)
def test_failures_by_precedence(
    operations: list[AnyOperation], index: int, code: FailureCode
) -> None:
    result = apply(W, operations, H, NOW)
    assert isinstance(result, Failure)
    assert (result.operation_index, result.code) == (index, code)


def test_another_projects_hold_is_not_found() -> None:
    """The caller gives only the project's holds, as it gives only its wallets."""
    theirs = {"pending": H["pending"]}
    result = apply(W, [capture("pending")], {}, NOW)
    assert isinstance(result, Failure) and result.code is FailureCode.HOLD_NOT_FOUND
    assert isinstance(apply(W, [capture("pending")], theirs, NOW), Applied)


def test_a_hold_reserves_without_moving_the_balance() -> None:
    result = apply(W, [HoldOperation("new", "a", 4, "b", 30)], H, NOW)
    assert isinstance(result, Applied)
    assert result.postings == (Posting("a", 0, HOLD, 4, 10, "b"),)
    assert result.held_after == (10,)
    assert result.balances == {}
    assert result.held == {"a": 10}
    assert result.holds == {"new": Hold("new", "a", "b", 4, 0, PENDING, NOW + 30 * SECOND)}


def test_a_hold_without_timeout_never_expires_and_without_to_is_a_pending_redeem() -> None:
    result = apply(W, [hold("b", None, 7)], H, NOW)
    assert isinstance(result, Applied)
    assert result.holds == {"new": Hold("new", "b", None, 7, 0, PENDING, None)}
    assert result.postings == (Posting("b", 0, HOLD, 7, 7, None),)


def test_a_partial_capture_transfers_the_amount_and_releases_the_hold() -> None:
    result = apply(W, [capture("pending", 3)], H, NOW)
    assert isinstance(result, Applied)
    assert result.postings == (
        Posting("a", 0, RELEASE, 4, 10, "b"),
        Posting("a", 0, DEBIT, 3, 7, "b"),
        Posting("b", 0, CREDIT, 3, 10, "a"),
    )
    assert result.held_after == (2, 2, 0)
    assert result.balances == {"a": 7, "b": 10}
    assert result.held == {"a": 2}
    assert result.holds == {"pending": H["pending"]._replace(status=CAPTURED, captured_amount=3)}


def test_a_capture_without_amount_takes_the_whole_hold_and_without_to_redeems() -> None:
    result = apply(W, [capture("redeemable")], H, NOW)
    assert isinstance(result, Applied)
    assert result.postings == (
        Posting("a", 0, RELEASE, 2, 10, None),
        Posting("a", 0, REDEEM, 2, 8, None),
    )
    assert result.held_after == (4, 4)
    assert result.holds["redeemable"].captured_amount == 2


def test_a_capture_just_before_the_instant_succeeds() -> None:
    result = apply(W, [capture("early")], H, NOW)
    assert isinstance(result, Applied)
    assert result.holds["early"].status is CAPTURED


@pytest.mark.parametrize("hold_id", ["pending", "early", "on_sus"])
def test_a_void_releases_a_pending_hold_whatever_its_wallet(hold_id: str) -> None:
    result = apply(W, [void(hold_id)], H, NOW)
    assert isinstance(result, Applied)
    held = H[hold_id]
    wallet = W[held.wallet_id]
    assert result.postings == (
        Posting(wallet.id, 0, RELEASE, held.amount, wallet.balance, held.to_wallet_id),
    )
    assert result.held == {wallet.id: wallet.held - held.amount}
    assert result.holds == {hold_id: held._replace(status=VOIDED)}
    assert result.balances == {}


@pytest.mark.parametrize("hold_id", ["due", "late"])
def test_expire_releases_a_hold_from_its_instant_on(hold_id: str) -> None:
    result = apply(W, [expire(hold_id)], H, NOW)
    assert isinstance(result, Applied)
    assert result.holds == {hold_id: H[hold_id]._replace(status=EXPIRED)}
    assert result.postings[0].type is RELEASE


def test_a_void_frees_funds_for_a_later_operation_of_the_transaction() -> None:
    result = apply(W, [void("pending"), transfer("a", "b", 8)], H, NOW)
    assert isinstance(result, Applied)
    assert result.balances == {"a": 2, "b": 15}
    assert result.held_after == (2, 2, 0)


def test_operations_mix_in_one_transaction() -> None:
    ops: list[AnyOperation] = [
        issue("b", 3),
        hold("b", "a", 10, "made"),
        capture("made", 6),
        transfer("b", "a", 4),
    ]
    result = apply(W, ops, H, NOW)
    assert isinstance(result, Applied)
    assert [(p.wallet_id, p.type, p.amount, p.balance_after) for p in result.postings] == [
        ("b", EntryType.ISSUE, 3, 10),
        ("b", HOLD, 10, 10),
        ("b", RELEASE, 10, 10),
        ("b", DEBIT, 6, 4),
        ("a", CREDIT, 6, 16),
        ("b", DEBIT, 4, 0),
        ("a", CREDIT, 4, 20),
    ]
    assert result.held_after == (0, 10, 0, 0, 6, 0, 6)
    assert result.held == {"b": 0}
    assert result.holds["made"] == Hold("made", "b", "a", 10, 6, CAPTURED, None)


def test_plain_operations_carry_the_held_balance_they_leave() -> None:
    result = apply(W, [transfer("a", "b", 4)], H, NOW)
    assert isinstance(result, Applied)
    assert result.held_after == (6, 0)
    assert (result.held, result.holds) == ({}, {})
    without_holds = apply(W, [transfer("a", "b", 4)])
    assert without_holds == result


def test_a_failure_after_a_hold_changes_nothing() -> None:
    before_wallets, before_holds = dict(W), dict(H)
    result = apply(W, [hold("a", "b", 4), void("pending"), capture("nope")], H, NOW)
    assert isinstance(result, Failure)
    assert (before_wallets, before_holds) == (W, H)


@pytest.mark.parametrize(
    ("operations", "holds_given", "now"),
    [
        ([hold("a", "b", 1)], H, None),
        ([void("pending")], H, NOW.replace(tzinfo=None)),
        ([hold("a", "b", 1, "pending")], H, NOW),
        ([HoldOperation("new", "a", 1, "b", 0)], H, NOW),
        ([HoldOperation("new", "a", 1, "b", HOLD_TIMEOUT_S_MAX + 1)], H, NOW),
        ([hold("a", "b", 0)], H, NOW),
        ([capture("pending", 0)], H, NOW),
        ([capture("stray")], {"stray": Hold("stray", "gone", None, 1, 0, PENDING, None)}, NOW),
        ([capture("stray")], {"stray": Hold("stray", "a", "gone", 1, 0, PENDING, None)}, NOW),
        ([hold("", None, 1)._replace(from_wallet_id=None)], H, NOW),  # type: ignore[arg-type]
    ],
    ids=[
        "no instant",
        "a naive instant",
        "a new hold with a taken id",
        "zero timeout",
        "timeout over a year",
        "zero hold",
        "zero capture",
        "hold without its wallet",
        "hold without its to wallet",
        "hold without from",
    ],
)
def test_malformed_operations_on_holds_are_programmer_errors(
    operations: list[AnyOperation], holds_given: dict[str, Hold], now: datetime | None
) -> None:
    with pytest.raises(InvariantViolation):
        apply(W, operations, holds_given, now)
