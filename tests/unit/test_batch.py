"""Batch planning without a database: transactions apply in queue order on shared wallets, a
failing one leaves its neighbours alone, and a taken reference ID is never applied twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.core.ledger import Applied, EntryType, Posting, Wallet, WalletStatus
from shared.errors import InvariantViolation
from tests.unit.ledger_values import message
from worker.batch import KnownTransaction, LockedWallet, _check_balanced, plan_batch, wallet_ids

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def locked(wallet_id: str, balance: int, project_id: str = "p1") -> LockedWallet:
    return LockedWallet(project_id, Wallet(wallet_id, "pts", WalletStatus.OPEN, balance))


WALLETS = {"a": locked("a", 10), "b": locked("b", 0), "x": locked("x", 100, project_id="p2")}


def test_transactions_apply_in_order_and_failures_do_not_spread() -> None:
    plan = plan_batch(
        [
            message("t1", "r1", {"type": "Transfer", "from": "a", "to": "b", "amount": "10"}),
            message("t2", "r2", {"type": "Transfer", "from": "a", "to": "b", "amount": "1"}),
            message("t3", "r3", {"type": "Transfer", "from": "b", "to": "a", "amount": "4"}),
        ],
        {},
        WALLETS,
        NOW,
    )
    assert [o.body["status"] for o in plan.outcomes] == ["Completed", "Failed", "Completed"]
    assert plan.outcomes[1].body["failure"]["code"] == "InsufficientFunds"
    assert plan.balances == {"a": 4, "b": 6}
    assert [row[0] for row in plan.transactions] == ["t1", "t2", "t3"]
    assert [(e[0], e[3], e[5]) for e in plan.entries] == [
        ("a", "Debit", 0),
        ("b", "Credit", 10),
        ("b", "Debit", 6),
        ("a", "Credit", 4),
    ]


def test_wallets_of_another_project_are_not_found() -> None:
    plan = plan_batch(
        [message("t1", "r1", {"type": "Transfer", "from": "x", "to": "a", "amount": "1"})],
        {},
        WALLETS,
        NOW,
    )
    assert plan.outcomes[0].body["failure"]["code"] == "WalletNotFound"
    assert plan.balances == {}


def test_taken_reference_ids_are_replays_or_aliases_never_applied() -> None:
    known_body = {"id": "t0", "referenceId": "r0", "status": "Completed"}
    issue = {"type": "Issue", "to": "a", "amount": "5"}
    plan = plan_batch(
        [
            message("t0", "r0", issue),  # a redelivery of an applied transaction
            message("t9", "r0", issue),  # another id for the same reference ID
            message("t1", "r1", issue),
            message("t2", "r1", issue),  # the same reference ID again within the batch
        ],
        {("p1", "r0"): KnownTransaction("t0", known_body)},
        WALLETS,
        NOW,
    )
    assert [row[0] for row in plan.transactions] == ["t1"]
    assert plan.balances == {"a": 15}
    assert plan.aliases == [("t9", "p1", "t0"), ("t2", "p1", "t1")]
    assert [o.body["id"] for o in plan.outcomes] == ["t0", "t0", "t1", "t1"]
    assert [o.new for o in plan.outcomes] == [False, False, True, False]


def test_wallets_are_locked_in_id_order() -> None:
    messages = [
        message("t1", "r1", {"type": "Transfer", "from": "z", "to": "b", "amount": "1"}),
        message("t2", "r2", {"type": "Issue", "to": "a", "amount": "1"}),
        message("t3", "r3", {"type": "Redeem", "from": "c", "amount": "1"}),
    ]
    assert wallet_ids(messages) == ["a", "b", "c", "z"]


def posting(wallet_id: str, entry_type: EntryType, amount: int) -> Posting:
    return Posting(wallet_id, 0, entry_type, amount, 10, None)


@pytest.mark.parametrize(
    ("postings", "balances", "broken"),
    [
        ((posting("a", EntryType.DEBIT, 5), posting("b", EntryType.CREDIT, 5)), {"a": 0}, None),
        ((posting("a", EntryType.ISSUE, 5),), {"a": 5}, None),
        ((posting("a", EntryType.DEBIT, 5), posting("b", EntryType.CREDIT, 4)), {}, "credits"),
        ((posting("a", EntryType.CREDIT, 5),), {}, "credits"),
        ((posting("a", EntryType.REDEEM, 5),), {"a": -1}, "negative balance"),
    ],
)
def test_the_planner_refuses_an_unbalanced_or_negative_result_of_the_core(
    postings: tuple[Posting, ...], balances: dict[str, int], broken: str | None
) -> None:
    result = Applied(balances=balances, postings=postings)
    if broken is None:
        _check_balanced(result)
        return
    with pytest.raises(InvariantViolation, match=broken):
        _check_balanced(result)
