"""Reversals without a database: the inverse of each kind of operation, the refusals in their
precedence, reversals planned in a batch with the transaction they reverse, and a hypothesis
property: a transaction followed by its reversal leaves every balance as it was (or the
reversal fails InsufficientFunds and moves nothing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.messages import TransactionMessage
from shared.core import ledger
from shared.core.ledger import Operation, OperationType, Wallet, WalletStatus
from shared.core.reversal import Refusal, ReversalCode, Reversed, inverse, operation_json
from worker.batch import LockedWallet, Reversible, plan_batch

NOW = datetime(2026, 1, 1, tzinfo=UTC)
T, ISSUE, R = OperationType.TRANSFER, OperationType.ISSUE, OperationType.REDEEM


def shown(*operations: Operation) -> list[dict[str, Any]]:
    return [operation_json(operation) for operation in operations]


@pytest.mark.parametrize(
    ("operations", "undone"),
    [
        ([Operation(T, 5, "a", "b")], [Operation(T, 5, "b", "a")]),
        ([Operation(ISSUE, 7, None, "a")], [Operation(R, 7, "a", None)]),
        ([Operation(R, 3, "a", None)], [Operation(ISSUE, 3, None, "a")]),
        (
            [Operation(ISSUE, 9, None, "a"), Operation(T, 4, "a", "b"), Operation(R, 1, "b", None)],
            [Operation(ISSUE, 1, None, "b"), Operation(T, 4, "b", "a"), Operation(R, 9, "a", None)],
        ),
    ],
)
def test_the_inverse_undoes_each_operation_in_reverse_order(
    operations: list[Operation], undone: list[Operation]
) -> None:
    assert inverse("t1", Reversed("Completed", shown(*operations), None)) == undone


@pytest.mark.parametrize(
    ("target", "code"),
    [
        (None, ReversalCode.NOT_REVERSIBLE),
        (
            Reversed("Failed", shown(Operation(ISSUE, 1, None, "a")), None),
            ReversalCode.NOT_REVERSIBLE,
        ),
        (
            Reversed("Pending", shown(Operation(ISSUE, 1, None, "a")), None),
            ReversalCode.NOT_REVERSIBLE,
        ),
        (
            Reversed("Completed", [{"type": "Hold", "from": "a", "amount": "1"}], "t9"),
            ReversalCode.NOT_REVERSIBLE,  # before AlreadyReversed
        ),
        (
            Reversed("Completed", [{"type": "Capture", "holdId": "h-0"}], None),
            ReversalCode.NOT_REVERSIBLE,
        ),
        (
            Reversed("Completed", shown(Operation(ISSUE, 1, None, "a")), "t9"),
            ReversalCode.ALREADY_REVERSED,
        ),
    ],
)
def test_refusals_in_precedence(target: Reversed | None, code: ReversalCode) -> None:
    refused = inverse("t1", target)
    assert isinstance(refused, Refusal)
    assert refused.code is code


def message(transaction_id: str, reference_id: str, **body: Any) -> TransactionMessage:
    return TransactionMessage.model_validate(
        {
            "id": transaction_id,
            "projectId": "p1",
            "referenceId": reference_id,
            "submittedAt": NOW.isoformat(),
            **body,
        }
    )


def locked(wallet_id: str, balance: int, project_id: str = "p1") -> LockedWallet:
    return LockedWallet(project_id, Wallet(wallet_id, "pts", WalletStatus.OPEN, balance))


def test_a_reversal_in_the_batch_of_its_transaction_and_a_second_one() -> None:
    transfer = {"type": "Transfer", "from": "a", "to": "b", "amount": "4"}
    plan = plan_batch(
        [
            message("t1", "r1", operations=[transfer]),
            message("t2", "r2", reversalOf="t1"),
            message("t3", "r3", reversalOf="t1"),
            message("t4", "r4", reversalOf="t9"),  # unknown
        ],
        {},
        {"a": locked("a", 10), "b": locked("b", 0)},
        NOW,
    )
    bodies = [outcome.body for outcome in plan.outcomes]
    assert [b["status"] for b in bodies] == ["Completed", "Completed", "Failed", "Failed"]
    assert [b.get("failure", {}).get("code") for b in bodies[2:]] == [
        "AlreadyReversed",
        "NotReversible",
    ]
    assert bodies[1]["operations"] == [{"type": "Transfer", "from": "b", "to": "a", "amount": "4"}]
    assert plan.balances == {"a": 10, "b": 0}
    assert plan.reversed == {"t1": "t2"}
    assert plan.restated == [("p1", "t1", {**bodies[0], "reversedBy": "t2"})]
    assert [row[9] for row in plan.transactions] == [None, "t1", "t1", "t9"]


def test_another_project_s_transaction_is_not_reversible() -> None:
    target = Reversed("Completed", [{"type": "Issue", "to": "x", "amount": "1"}], None)
    plan = plan_batch(
        [message("t2", "r2", reversalOf="t1")],
        {},
        {"x": locked("x", 5, project_id="p2")},
        NOW,
        reversible={"t1": Reversible("p2", target, {})},
    )
    assert plan.outcomes[0].body["failure"]["code"] == "NotReversible"
    assert plan.entries == []


_WALLETS = ("a", "b", "c")
_OPERATION = st.one_of(
    st.builds(
        lambda pair, n: Operation(T, n, *pair),
        st.permutations(_WALLETS).map(lambda p: (p[0], p[1])),
        st.integers(1, 30),
    ),
    st.builds(
        lambda w, n: Operation(ISSUE, n, None, w), st.sampled_from(_WALLETS), st.integers(1, 30)
    ),
    st.builds(lambda w, n: Operation(R, n, w, None), st.sampled_from(_WALLETS), st.integers(1, 30)),
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_OPERATION, min_size=1, max_size=6),
    st.lists(_OPERATION, max_size=4),
    st.tuples(*(st.integers(0, 40) for _ in _WALLETS)),
)
def test_a_transaction_then_its_reversal_leaves_balances_as_before(
    operations: list[Operation], between: list[Operation], start: tuple[int, ...]
) -> None:
    wallets = {
        wallet_id: Wallet(wallet_id, "pts", WalletStatus.OPEN, balance)
        for wallet_id, balance in zip(_WALLETS, start, strict=True)
    }
    applied = ledger.apply(wallets, operations)
    if isinstance(applied, ledger.Failure):
        return
    after = {
        w: wallets[w]._replace(balance=applied.balances.get(w, wallets[w].balance)) for w in wallets
    }
    undone = inverse("t1", Reversed("Completed", shown(*operations), None))
    assert isinstance(undone, list)
    reversed_ = ledger.apply(after, undone)
    assert not isinstance(reversed_, ledger.Failure)  # nothing came between: always applies
    assert {w: reversed_.balances.get(w, after[w].balance) for w in wallets} == {
        w: wallets[w].balance for w in wallets
    }
    # With other transactions between, the reversal undoes exactly its transaction's moves,
    # or fails and moves nothing.
    if between:
        moved = ledger.apply(after, between)
        if isinstance(moved, ledger.Failure):
            return
        middle = {
            w: after[w]._replace(balance=moved.balances.get(w, after[w].balance)) for w in wallets
        }
        late = ledger.apply(middle, undone)
        if isinstance(late, ledger.Failure):
            assert late.code is ledger.FailureCode.INSUFFICIENT_FUNDS
            return
        for wallet_id, wallet in wallets.items():
            change = applied.balances.get(wallet_id, wallet.balance) - wallet.balance
            final = late.balances.get(wallet_id, middle[wallet_id].balance)
            assert final == middle[wallet_id].balance - change
