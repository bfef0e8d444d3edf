"""Planning a batch ahead, without a database: the wallet cache follows the balances a writer's
plans leave, holds at most its limit, and a plan made ahead counts only when the locked
wallets and the taken reference IDs are exactly those it was made from. When nothing else
writes, the cache is the database, so the plan made ahead is the plan the locked rows give."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.contract.messages import TransactionMessage
from shared.core.ledger import Wallet, WalletStatus
from worker.batch import (
    KnownTransaction,
    LockedWallet,
    WalletCache,
    guess,
    plan_batch,
    wallet_ids,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def locked(wallet_id: str, balance: int, status: WalletStatus = WalletStatus.OPEN) -> LockedWallet:
    return LockedWallet("p1", Wallet(wallet_id, "pts", status, balance))


def transfer(number: int, source: str, target: str, amount: int) -> TransactionMessage:
    return TransactionMessage.model_validate(
        {
            "id": f"t{number}",
            "projectId": "p1",
            "referenceId": f"r{number}",
            "operations": [{"type": "Transfer", "from": source, "to": target, "amount": amount}],
            "submittedAt": NOW.isoformat(),
        }
    )


def test_the_cache_keeps_locked_wallets_at_the_balances_the_plan_left() -> None:
    cache = WalletCache(10)
    cache.remember({"a": locked("a", 10), "b": locked("b", 0), "c": locked("c", 7)}, {"a": 4})
    assert cache.inputs(["a", "b"]) == {"a": locked("a", 4), "b": locked("b", 0)}
    assert cache.inputs(["a", "unseen"]) is None
    cache.remember({"b": locked("b", 3)}, {})  # seen again, as locked now
    assert cache.inputs(["b", "c"]) == {"b": locked("b", 3), "c": locked("c", 7)}


def test_the_cache_starts_over_rather_than_outgrow_its_limit() -> None:
    cache = WalletCache(3)
    cache.remember({"a": locked("a", 1), "b": locked("b", 2)}, {})
    cache.remember({"c": locked("c", 3), "d": locked("d", 4)}, {})
    assert len(cache) == 2
    assert cache.inputs(["a"]) is None
    assert cache.inputs(["c", "d"]) == {"c": locked("c", 3), "d": locked("d", 4)}
    cache.remember({name: locked(name, 0) for name in "wxyz"}, {})  # more than it may hold
    assert len(cache) == 0
    nothing = WalletCache(0)
    nothing.remember({"a": locked("a", 1)}, {})
    assert nothing.inputs(["a"]) is None


def test_a_plan_made_ahead_holds_only_for_exactly_its_inputs() -> None:
    cache = WalletCache(10)
    cache.remember({"a": locked("a", 10), "b": locked("b", 0)}, {})
    messages = [transfer(1, "a", "b", 6)]
    ahead = guess(messages, cache, NOW)
    assert ahead is not None
    assert ahead.plan == plan_batch(messages, {}, ahead.wallets, NOW)
    as_locked = {"a": locked("a", 10), "b": locked("b", 0)}
    assert ahead.holds(messages, {}, as_locked)
    changed = [
        {"a": locked("a", 9), "b": locked("b", 0)},  # another balance
        {"a": locked("a", 10, WalletStatus.SUSPENDED), "b": locked("b", 0)},  # another status
        {"a": LockedWallet("p2", Wallet("a", "pts", WalletStatus.OPEN, 10)), "b": locked("b", 0)},
        {"a": locked("a", 10)},  # a wallet that is gone
    ]
    for wallets in changed:
        assert not ahead.holds(messages, {}, wallets)
    taken = {("p1", "r1"): KnownTransaction("t0", {"id": "t0"})}
    assert not ahead.holds(messages, taken, as_locked)
    assert not ahead.holds([*messages, transfer(2, "b", "a", 1)], {}, as_locked)
    assert guess([transfer(2, "a", "unseen", 1)], cache, NOW) is None


WALLET_NAMES = [f"w{n}" for n in range(6)]
transfers = st.tuples(
    st.sampled_from(WALLET_NAMES), st.sampled_from(WALLET_NAMES), st.integers(1, 30)
)


@settings(max_examples=200, deadline=None)
@given(
    balances=st.lists(st.integers(0, 50), min_size=6, max_size=6),
    batches=st.lists(st.lists(transfers, min_size=1, max_size=8), min_size=2, max_size=5),
    cache_entries_max=st.integers(0, 8),
)
def test_with_no_other_writer_a_plan_made_ahead_is_the_plan_of_the_locked_rows(
    balances: list[int], batches: list[list[tuple[str, str, int]]], cache_entries_max: int
) -> None:
    database = {
        name: locked(name, balance) for name, balance in zip(WALLET_NAMES, balances, strict=True)
    }
    cache = WalletCache(cache_entries_max)
    number = 0
    for batch in batches:
        messages = []
        for source, target, amount in batch:
            number += 1
            messages.append(transfer(number, source, target, amount))
        ahead = guess(messages, cache, NOW)
        rows = {wallet_id: database[wallet_id] for wallet_id in wallet_ids(messages)}
        plan = plan_batch(messages, {}, rows, NOW)
        if ahead is not None:
            assert ahead.holds(messages, {}, rows)
            assert ahead.plan == plan
        cache.remember(rows, plan.balances)
        for wallet_id, balance in plan.balances.items():
            database[wallet_id] = locked(wallet_id, balance)
