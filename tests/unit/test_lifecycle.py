"""The wallet status rules: every pair of the transition table, the empty-balance rule for
closing and the suspended-customer rule for reopening, in their documented precedence."""

from __future__ import annotations

import itertools

import pytest

from shared.core.ledger import WalletStatus
from shared.core.lifecycle import check_wallet_transition

OPEN, SUSPENDED, CLOSED = WalletStatus.OPEN, WalletStatus.SUSPENDED, WalletStatus.CLOSED
ALLOWED = {(OPEN, SUSPENDED), (OPEN, CLOSED), (SUSPENDED, OPEN), (SUSPENDED, CLOSED)}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(WalletStatus, repeat=2)))
def test_the_transition_table(current: WalletStatus, target: WalletStatus) -> None:
    refusal = check_wallet_transition(current, target, balance=0, customer_suspended=False)
    if current == target or (current, target) in ALLOWED:
        assert refusal is None
    else:
        assert refusal is not None and refusal.code == "InvalidStatusTransition"


@pytest.mark.parametrize("current", [OPEN, SUSPENDED])
def test_only_an_empty_wallet_closes(current: WalletStatus) -> None:
    refusal = check_wallet_transition(current, CLOSED, balance=1, customer_suspended=False)
    assert refusal is not None and refusal.code == "WalletNotEmpty"
    assert check_wallet_transition(current, CLOSED, balance=0, customer_suspended=True) is None


def test_a_suspended_customers_wallet_does_not_reopen() -> None:
    refusal = check_wallet_transition(SUSPENDED, OPEN, balance=5, customer_suspended=True)
    assert refusal is not None and refusal.code == "CustomerSuspended"
    assert check_wallet_transition(OPEN, SUSPENDED, balance=5, customer_suspended=True) is None


def test_precedence_transition_before_balance_before_customer() -> None:
    closed_with_money = check_wallet_transition(CLOSED, OPEN, balance=7, customer_suspended=True)
    assert closed_with_money is not None
    assert closed_with_money.code == "InvalidStatusTransition"


def test_asking_for_the_current_status_is_a_no_op_even_when_closed() -> None:
    for status in WalletStatus:
        assert check_wallet_transition(status, status, balance=9, customer_suspended=True) is None


@pytest.mark.parametrize("current", [OPEN, SUSPENDED])
def test_a_wallet_with_a_pending_hold_does_not_close(current: WalletStatus) -> None:
    refusal = check_wallet_transition(current, CLOSED, balance=5, customer_suspended=False, held=5)
    assert refusal is not None and refusal.code == "WalletNotEmpty"
    assert "hold" in refusal.message


def test_a_pending_hold_does_not_stop_a_suspension_or_a_reopening() -> None:
    assert (
        check_wallet_transition(OPEN, SUSPENDED, balance=5, customer_suspended=False, held=5)
        is None
    )
    assert (
        check_wallet_transition(SUSPENDED, OPEN, balance=5, customer_suspended=False, held=5)
        is None
    )
