"""Batch planning with holds, without a database: a hold made and resolved within one batch,
holds of another project, expiries that do not apply leaving no trace, what a plan saves and
announces, planning ahead, and a replayed batch being a no-op (a hypothesis property)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.contract.messages import (
    SubmitTransaction,
    TransactionMessage,
    expiry_reference,
    hold_id,
    operations_json,
    request_digest,
    to_core,
)
from shared.core import ledger
from shared.core.ledger import Hold, HoldStatus, Wallet, WalletStatus
from tests.unit.ledger_values import message
from worker.batch import (
    KnownTransaction,
    LockedHold,
    LockedWallet,
    WalletCache,
    batch_keys,
    guess,
    plan_batch,
)

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)


def expiry(transaction_id: str, held: str, project_id: str = "p1") -> TransactionMessage:
    return message(
        transaction_id,
        expiry_reference(held),
        {"type": "Expire", "holdId": held},
        project_id=project_id,
    )


def locked(wallet_id: str, balance: int, held: int = 0, project_id: str = "p1") -> LockedWallet:
    return LockedWallet(project_id, Wallet(wallet_id, "pts", WalletStatus.OPEN, balance, held))


def pending(
    held: str, amount: int, expires_at: datetime | None = None, project_id: str = "p1"
) -> LockedHold:
    hold = Hold(held, "a", "b", amount, 0, HoldStatus.PENDING, expires_at)
    return LockedHold(project_id, "t0", NOW - timedelta(hours=1), hold)


def hold_op(amount: int, **extra: Any) -> dict[str, Any]:
    return {"type": "Hold", "from": "a", "to": "b", "amount": str(amount), **extra}


def test_a_hold_made_and_captured_in_one_batch_is_saved_once_as_captured() -> None:
    plan = plan_batch(
        [
            message("t1", "r1", hold_op(6, timeoutS=60)),
            message("t2", "r2", {"type": "Capture", "holdId": hold_id("t1", 0), "amount": "4"}),
        ],
        {},
        {"a": locked("a", 10), "b": locked("b", 0)},
        NOW,
    )
    made = hold_id("t1", 0)
    assert [o.body["status"] for o in plan.outcomes] == ["Completed", "Completed"]
    assert plan.outcomes[0].body["operations"][0]["holdId"] == made
    assert plan.made == {made}
    saved = plan.holds[made]
    assert saved.hold == Hold(
        made, "a", "b", 6, 4, HoldStatus.CAPTURED, NOW + timedelta(seconds=60)
    )
    assert (saved.transaction_id, saved.resolved_by, saved.resolved_at) == ("t1", "t2", NOW)
    assert (plan.balances, plan.held) == ({"a": 6, "b": 4}, {"a": 0})
    assert [(e[0], e[3], e[4], e[5], e[7]) for e in plan.entries] == [
        ("a", "Hold", 6, 10, 6),
        ("a", "Release", 6, 10, 0),
        ("a", "Debit", 4, 6, 0),
        ("b", "Credit", 4, 4, 0),
    ]
    # Each transaction announces the hold as it left it.
    assert [[h["status"] for h in o.holds] for o in plan.outcomes] == [["Pending"], ["Captured"]]
    assert plan.outcomes[1].holds[0]["capturedAmount"] == "4"


def test_the_request_digest_is_of_the_operations_as_submitted() -> None:
    """A retried submission matches its first, whose stored operations show the hold's id."""
    plan = plan_batch(
        [message("t1", "r1", hold_op(1))], {}, {"a": locked("a", 1)} | {"b": locked("b", 0)}, NOW
    )
    submitted = message("t1", "r1", hold_op(1))
    assert plan.transactions[0][3] == request_digest(operations_json(submitted.operations))
    assert plan.transactions[0][5][0]["holdId"] == hold_id("t1", 0)


def test_holds_of_another_project_are_not_found_and_not_shown() -> None:
    foreign = pending("h1", 5, project_id="p2")
    plan = plan_batch(
        [message("t1", "r1", {"type": "Void", "holdId": "h1"})],
        {},
        {"a": locked("a", 10, 5, project_id="p2"), "b": locked("b", 0, project_id="p2")},
        NOW,
        {"h1": foreign},
    )
    failure = plan.outcomes[0].body["failure"]
    assert failure["code"] == "HoldNotFound"
    assert plan.holds == {} and plan.held == {} and plan.entries == []


def test_an_expiry_applies_from_its_instant_and_leaves_no_trace_before() -> None:
    due = pending("h1", 5, expires_at=NOW)
    wallets = {"a": locked("a", 10, 5), "b": locked("b", 0)}
    early = plan_batch(
        [expiry("t1", "h1")], {}, wallets, NOW - timedelta(milliseconds=1), {"h1": due}
    )
    (outcome,) = early.outcomes
    assert (outcome.recorded, outcome.new) == (False, False)
    assert early.transactions == [] and early.entries == [] and early.holds == {}
    on_time = plan_batch([expiry("t2", "h1")], {}, wallets, NOW, {"h1": due})
    assert on_time.outcomes[0].recorded and on_time.outcomes[0].body["status"] == "Completed"
    assert on_time.holds["h1"].hold.status is HoldStatus.EXPIRED
    assert on_time.held == {"a": 0}
    # A second expiry in the same batch is a replay of the first reference ID, not a release.
    twice = plan_batch([expiry("t2", "h1"), expiry("t3", "h1")], {}, wallets, NOW, {"h1": due})
    assert [o.new for o in twice.outcomes] == [True, False]
    assert twice.aliases == [("t3", "p1", "t2")]
    assert len([e for e in twice.entries if e[3] == "Release"]) == 1


def test_an_expiry_of_a_hold_resolved_meanwhile_records_nothing() -> None:
    due = pending("h1", 5, expires_at=NOW)
    plan = plan_batch(
        [message("t1", "r1", {"type": "Void", "holdId": "h1"}), expiry("t2", "h1")],
        {},
        {"a": locked("a", 10, 5), "b": locked("b", 0)},
        LATER,
        {"h1": due},
    )
    # The Void comes at or after the instant: HoldExpired, and the expiry then applies.
    assert plan.outcomes[0].body["failure"]["code"] == "HoldExpired"
    assert plan.outcomes[1].body["status"] == "Completed"
    plan = plan_batch(
        [message("t1", "r1", {"type": "Void", "holdId": "h1"}), expiry("t2", "h1")],
        {},
        {"a": locked("a", 10, 5), "b": locked("b", 0)},
        NOW - timedelta(seconds=1),
        {"h1": due},
    )
    assert plan.outcomes[0].body["status"] == "Completed"
    assert not plan.outcomes[1].recorded
    assert [row[0] for row in plan.transactions] == ["t1"]


def test_batches_are_planned_ahead_from_the_holds_and_held_balances_last_seen() -> None:
    cache = WalletCache(10)
    cache.remember({"a": locked("a", 10), "b": locked("b", 0)}, {"a": 10}, {"a": 3})
    void = message("t1", "r1", {"type": "Void", "holdId": "h1"})
    assert guess([void], cache, NOW) is None  # a hold it has not seen
    ahead = guess([message("t1", "r1", hold_op(7)), message("t2", "r2", hold_op(1))], cache, NOW)
    assert ahead is not None
    # The cache kept the held balance: of the 10, 3 are held, so 7 can be held, not 8.
    assert ahead.plan.outcomes[0].body["status"] == "Completed"
    assert ahead.plan.outcomes[1].body["failure"]["code"] == "InsufficientFunds"
    assert ahead.plan.held == {"a": 10}
    # The holds a plan made are remembered as it left them, with their wallets.
    cache.remember(ahead.wallets, ahead.plan.balances, ahead.plan.held, ahead.plan.holds)
    made = hold_id("t1", 0)
    capture = message("t3", "r3", {"type": "Capture", "holdId": made})
    captured = guess([capture], cache, NOW)
    assert captured is not None
    assert captured.named == {made: ahead.plan.holds[made]}
    assert captured.plan.balances == {"a": 3, "b": 7}
    # It holds only if the holds read under lock are those it was planned from.
    assert captured.holds([capture], {}, captured.wallets, captured.named)
    assert not captured.holds([capture], {}, captured.wallets, {})


def test_a_hold_and_its_capture_in_one_batch_are_planned_ahead() -> None:
    cache = WalletCache(10)
    cache.remember({"a": locked("a", 10), "b": locked("b", 0)}, {})
    made = hold_id("t1", 0)
    batch = [
        message("t1", "r1", hold_op(6)),
        message("t2", "r2", {"type": "Capture", "holdId": made, "amount": "4"}),
    ]
    ahead = guess(batch, cache, NOW)
    assert ahead is not None and ahead.named == {}
    # The plan the writer makes under lock: the store finds no stored hold of that id.
    locked_wallets = {"a": locked("a", 10), "b": locked("b", 0)}
    assert ahead.holds(batch, {}, locked_wallets, {})
    under_lock = plan_batch(batch, {}, locked_wallets, NOW, {})
    assert ahead.plan == under_lock
    assert under_lock.balances == {"a": 6, "b": 4} and under_lock.held == {"a": 0}
    # A Capture before its Hold names a hold not made yet, in the plan ahead as under lock.
    backwards = guess(batch[::-1], cache, NOW)
    assert backwards is not None
    assert backwards.plan == plan_batch(batch[::-1], {}, locked_wallets, NOW, {})
    assert backwards.plan.outcomes[0].body["failure"]["code"] == "HoldNotFound"


def test_batch_keys_name_wallets_and_holds() -> None:
    messages = [
        message("t1", "r1", hold_op(1), {"type": "Capture", "holdId": "h2"}),
        message("t2", "r2", {"type": "Void", "holdId": "h1"}),
    ]
    assert batch_keys(messages) == (["a", "b"], ["h2", "h1"])


@pytest.mark.parametrize(
    ("operation", "reference"),
    [
        ({"type": "Expire", "holdId": "h1"}, "r1"),  # an Expire under another reference ID
        ({"type": "Void", "holdId": "h1"}, expiry_reference("h1")),  # the reserved ID taken
        ({"type": "Expire", "holdId": "h2"}, expiry_reference("h1")),  # another hold's
    ],
)
def test_the_expiry_reference_ids_are_the_service_s_own(
    operation: dict[str, Any], reference: str
) -> None:
    with pytest.raises(ValidationError, match="Expire operation travels alone"):
        message("t1", reference, operation)


@pytest.mark.parametrize(
    "body",
    [
        {"referenceId": "r", "operations": [{"type": "Expire", "holdId": "h1"}]},
        {"referenceId": "cloudwallet:x", "operations": [hold_op(1)]},
        {"referenceId": "r", "operations": [{"type": "Capture"}]},
        {"referenceId": "r", "operations": [{"type": "Capture", "holdId": "h", "amount": "0"}]},
        {"referenceId": "r", "operations": [{"type": "Void", "holdId": "h", "amount": "1"}]},
        {"referenceId": "r", "operations": [hold_op(1, timeoutS=0)]},
        {"referenceId": "r", "operations": [hold_op(1, timeoutS=31_536_001)]},
        {"referenceId": "r", "operations": [hold_op(1, timeoutS=1.5)]},
        {"referenceId": "r", "operations": [hold_op(1, timeoutS="60")]},
        {"referenceId": "r", "operations": [hold_op(1, timeoutS=True)]},
        {"referenceId": "r", "operations": [hold_op(1, holdId="t-0")]},
        {"referenceId": "r", "operations": [{"type": "Hold", "to": "b", "amount": "1"}]},
    ],
)
def test_submissions_refuse_bad_hold_operations(body: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SubmitTransaction.model_validate(body)


def test_submissions_take_hold_operations_as_the_core_does() -> None:
    body = SubmitTransaction.model_validate(
        {
            "referenceId": "r",
            "operations": [
                {"type": "Hold", "from": "a", "amount": 5, "timeoutS": 31_536_000},
                {"type": "Capture", "holdId": "t0-1"},
                {"type": "Void", "holdId": "t0-2"},
            ],
        }
    )
    assert to_core(body.operations, "t9") == [
        ledger.HoldOperation("t9-0", "a", 5, None, 31_536_000),
        ledger.CaptureOperation("t0-1", None),
        ledger.VoidOperation("t0-2"),
    ]


# A replayed batch is a no-op: planned again with the reference IDs its first plan took, it
# writes nothing and answers every message with the first plan's state.
_AMOUNTS = st.integers(min_value=1, max_value=12)
_OPERATIONS = st.one_of(
    st.builds(hold_op, _AMOUNTS),
    st.builds(lambda n: {"type": "Transfer", "from": "a", "to": "b", "amount": str(n)}, _AMOUNTS),
    st.builds(lambda n: {"type": "Transfer", "from": "b", "to": "a", "amount": str(n)}, _AMOUNTS),
    st.builds(
        lambda t, n: {"type": "Capture", "holdId": hold_id(f"t{t}", 0), "amount": str(n)},
        st.integers(min_value=0, max_value=5),
        _AMOUNTS,
    ),
    st.builds(
        lambda t: {"type": "Void", "holdId": hold_id(f"t{t}", 0)},
        st.integers(min_value=0, max_value=5),
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_OPERATIONS, min_size=1, max_size=6))
def test_a_replayed_batch_is_a_no_op(operations: list[dict[str, Any]]) -> None:
    messages = [message(f"t{index}", f"r{index}", op) for index, op in enumerate(operations)]
    wallets = {"a": locked("a", 20), "b": locked("b", 5)}
    first = plan_batch(messages, {}, wallets, NOW)
    taken = {
        (o.message.project_id, o.message.reference_id): KnownTransaction(o.message.id, o.body)
        for o in first.outcomes
    }
    after = {
        wallet_id: LockedWallet(
            "p1",
            w.wallet._replace(
                balance=first.balances.get(wallet_id, w.wallet.balance),
                held=first.held.get(wallet_id, w.wallet.held),
            ),
        )
        for wallet_id, w in wallets.items()
    }
    replayed = plan_batch(messages, taken, after, LATER, first.holds)
    assert replayed.transactions == [] and replayed.entries == []
    assert replayed.balances == {} and replayed.held == {} and replayed.holds == {}
    assert [o.body for o in replayed.outcomes] == [o.body for o in first.outcomes]
    assert not any(o.new for o in replayed.outcomes)
    # And the first plan kept available balances whole and held = the sum of Pending holds.
    for wallet_id, w in after.items():
        assert 0 <= w.wallet.held <= w.wallet.balance
        assert w.wallet.held == sum(
            h.hold.amount
            for h in first.holds.values()
            if h.hold.wallet_id == wallet_id and h.hold.status is HoldStatus.PENDING
        )
