"""Properties of the ledger core over generated wallets and transactions: conservation per
asset, balances never negative, all or nothing, entry chains, and order of operations."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.ledger import (
    AMOUNT_MAX,
    Applied,
    EntryType,
    Failure,
    FailureCode,
    Operation,
    OperationType,
    Wallet,
    WalletStatus,
    apply,
)
from tests.unit.ledger_values import net_issued, totals_by_asset

WALLET_IDS = [f"w{index}" for index in range(6)]
amounts = st.one_of(st.integers(1, 50), st.integers(1, AMOUNT_MAX))


@st.composite
def ledgers(draw: st.DrawFn) -> dict[str, Wallet]:
    found = {}
    for wallet_id in WALLET_IDS[: draw(st.integers(1, len(WALLET_IDS)))]:
        found[wallet_id] = Wallet(
            wallet_id,
            draw(st.sampled_from(["pts", "usd"])),
            draw(st.sampled_from(list(WalletStatus))),
            draw(st.one_of(st.integers(0, 100), st.integers(0, AMOUNT_MAX))),
        )
    return found


wallet_refs = st.sampled_from([*WALLET_IDS, "missing"])
operations = st.one_of(
    st.builds(Operation, st.just(OperationType.TRANSFER), amounts, wallet_refs, wallet_refs),
    st.builds(Operation, st.just(OperationType.ISSUE), amounts, st.none(), wallet_refs),
    st.builds(Operation, st.just(OperationType.REDEEM), amounts, wallet_refs, st.none()),
)
transactions = st.lists(operations, min_size=1, max_size=8)


@settings(max_examples=500)
@given(ledgers(), transactions)
def test_conservation_never_negative_and_all_or_nothing(
    wallets: dict[str, Wallet], ops: list[Operation]
) -> None:
    result = apply(wallets, ops)
    if isinstance(result, Failure):
        # All or nothing: a failure carries no posting; the index names a real operation.
        assert 0 <= result.operation_index < len(ops)
        return
    assert all(0 <= balance <= AMOUNT_MAX for balance in result.balances.values())
    issued = net_issued(wallets, result.postings)
    before = totals_by_asset(wallets)
    after = totals_by_asset(wallets, result.balances)
    for asset, total in after.items():
        assert total == before[asset] + issued.get(asset, 0)
    debits = sum(p.amount for p in result.postings if p.type is EntryType.DEBIT)
    credits = sum(p.amount for p in result.postings if p.type is EntryType.CREDIT)
    assert debits == credits


@settings(max_examples=500)
@given(ledgers(), transactions)
def test_entries_chain_to_the_new_balance(wallets: dict[str, Wallet], ops: list[Operation]) -> None:
    result = apply(wallets, ops)
    if not isinstance(result, Applied):
        return
    running = {wallet_id: wallet.balance for wallet_id, wallet in wallets.items()}
    for posting in result.postings:
        sign = 1 if posting.type in (EntryType.ISSUE, EntryType.CREDIT) else -1
        running[posting.wallet_id] += sign * posting.amount
        assert posting.balance_after == running[posting.wallet_id]
    for wallet_id, balance in result.balances.items():
        assert running[wallet_id] == balance


@settings(max_examples=300)
@given(ledgers(), transactions, transactions)
def test_failed_prefix_changes_nothing(
    wallets: dict[str, Wallet], first: list[Operation], second: list[Operation]
) -> None:
    """Applying a transaction that fails and then another is the same as applying only the
    other: a failure leaves no trace."""
    if isinstance(apply(wallets, first), Failure):
        assert apply(wallets, second) == apply(dict(wallets), second)


@given(st.integers(1, 100), st.integers(0, 100), st.integers(0, 100))
def test_order_of_operations_decides(amount: int, balance_one: int, balance_two: int) -> None:
    """Transfer then issue needs the funds up front; issue then transfer does not."""
    wallets = {
        "w1": Wallet("w1", "pts", WalletStatus.OPEN, balance_one),
        "w2": Wallet("w2", "pts", WalletStatus.OPEN, balance_two),
    }
    transfer = Operation(OperationType.TRANSFER, balance_one + amount, "w1", "w2")
    top_up = Operation(OperationType.ISSUE, amount, None, "w1")
    assert isinstance(apply(wallets, [transfer, top_up]), Failure)
    assert isinstance(apply(wallets, [top_up, transfer]), Applied)


def reference_apply(
    wallets: dict[str, Wallet], ops: list[Operation]
) -> tuple[dict[str, int], list[tuple[object, ...]]] | tuple[int, FailureCode]:
    """The core's rules as its docstring lists them, one operation at a time and with nothing
    made fast: the new balances and postings, or the index and code of the first failure."""
    balances = {wallet_id: wallet.balance for wallet_id, wallet in wallets.items()}
    touched: set[str] = set()
    postings: list[tuple[object, ...]] = []
    for index, op in enumerate(ops):
        source, target = op.from_wallet_id, op.to_wallet_id
        ends = [wallet_id for wallet_id in (source, target) if wallet_id is not None]
        if op.type is OperationType.TRANSFER and source == target:
            return index, FailureCode.SAME_WALLET
        if any(wallet_id not in wallets for wallet_id in ends):
            return index, FailureCode.WALLET_NOT_FOUND
        if len(ends) == 2 and wallets[ends[0]].asset_id != wallets[ends[1]].asset_id:
            return index, FailureCode.ASSET_MISMATCH
        if any(wallets[wallet_id].status is not WalletStatus.OPEN for wallet_id in ends):
            return index, FailureCode.WALLET_NOT_OPEN
        if source is not None and balances[source] < op.amount:
            return index, FailureCode.INSUFFICIENT_FUNDS
        if target is not None and balances[target] + op.amount > AMOUNT_MAX:
            return index, FailureCode.BALANCE_OVERFLOW
        if source is not None:
            balances[source] -= op.amount
            kind = EntryType.REDEEM if target is None else EntryType.DEBIT
            postings.append((source, index, kind, op.amount, balances[source], target))
        if target is not None:
            balances[target] += op.amount
            kind = EntryType.ISSUE if source is None else EntryType.CREDIT
            postings.append((target, index, kind, op.amount, balances[target], source))
        touched.update(ends)
    return {wallet_id: balances[wallet_id] for wallet_id in touched}, postings


@settings(max_examples=1000)
@given(ledgers(), transactions)
def test_apply_agrees_with_the_rules_as_listed(
    wallets: dict[str, Wallet], ops: list[Operation]
) -> None:
    """Every outcome, failures and their precedence included, is the one the listed rules give
    when followed literally."""
    result = apply(wallets, ops)
    if isinstance(result, Failure):
        assert reference_apply(wallets, ops) == (result.operation_index, result.code)
    else:
        postings = [tuple(posting) for posting in result.postings]
        assert reference_apply(wallets, ops) == (dict(result.balances), postings)
