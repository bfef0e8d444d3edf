"""Properties of holds in the ledger core over generated wallets, holds and transactions: the
core agrees with its listed rules followed literally, available balances never go negative,
held balances are the sum of Pending holds, a hold resolves at most once and never for more
than it holds, holds neither create nor destroy value, and expiry is never early."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

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
    Operation,
    OperationType,
    VoidOperation,
    Wallet,
    WalletStatus,
    apply,
)
from tests.unit.ledger_values import net_issued, totals_by_asset

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
SECOND = timedelta(seconds=1)
WALLET_IDS = [f"w{index}" for index in range(4)]
HOLD_IDS = [f"h{index}" for index in range(6)]
# Weighted towards what succeeds, so that enough transactions get as far as moving value.
WALLET_STATUSES = [WalletStatus.OPEN] * 5 + [WalletStatus.SUSPENDED, WalletStatus.CLOSED]
HOLD_STATUSES = [HoldStatus.PENDING] * 5 + [
    HoldStatus.CAPTURED,
    HoldStatus.VOIDED,
    HoldStatus.EXPIRED,
]
PENDING = HoldStatus.PENDING
amounts = st.one_of(st.integers(1, 40), st.integers(1, AMOUNT_MAX))
hold_amounts = st.one_of(st.integers(1, 30), st.integers(1, 2**100))
instants = st.one_of(st.none(), st.integers(-3, 3).map(lambda offset: NOW + offset * SECOND))


@st.composite
def books(draw: st.DrawFn) -> tuple[dict[str, Wallet], dict[str, Hold]]:
    """Wallets and holds as the writer would load them: each wallet's held balance is the sum
    of its Pending holds, within its balance, and a Closed wallet has none."""
    wallet_ids = WALLET_IDS[: draw(st.sampled_from([1, 2, 3, 4, 4, 4]))]
    assets = {wallet_id: draw(st.sampled_from(["pts"] * 3 + ["usd"])) for wallet_id in wallet_ids}
    holds: dict[str, Hold] = {}
    for hold_id in HOLD_IDS[: draw(st.sampled_from([0, 3, 6, 6, 6]))]:
        source = draw(st.sampled_from(wallet_ids))
        peers = [w for w in wallet_ids if w != source and assets[w] == assets[source]]
        target = draw(st.one_of(st.none(), st.sampled_from(peers))) if peers else None
        amount = draw(hold_amounts)
        hold_status = draw(st.sampled_from(HOLD_STATUSES))
        captured = draw(st.integers(1, amount)) if hold_status is HoldStatus.CAPTURED else 0
        holds[hold_id] = Hold(
            hold_id, source, target, amount, captured, hold_status, draw(instants)
        )
    wallets = {}
    for wallet_id in wallet_ids:
        held = sum(
            h.amount for h in holds.values() if h.wallet_id == wallet_id and h.status is PENDING
        )
        extra = draw(st.one_of(st.integers(0, 60), st.integers(0, AMOUNT_MAX - held)))
        status = draw(st.sampled_from(WALLET_STATUSES))
        if held and status is WalletStatus.CLOSED:
            status = WalletStatus.SUSPENDED
        wallets[wallet_id] = Wallet(wallet_id, assets[wallet_id], status, held + extra, held)
    return wallets, holds


wallet_refs = st.sampled_from([*WALLET_IDS * 3, "missing"])
hold_refs = st.sampled_from([*HOLD_IDS * 2, "new0", "new1", "new2", "missing"])
timeouts = st.one_of(st.none(), st.integers(1, 5), st.integers(1, HOLD_TIMEOUT_S_MAX))
operations = st.one_of(
    st.builds(Operation, st.just(OperationType.TRANSFER), amounts, wallet_refs, wallet_refs),
    st.builds(Operation, st.just(OperationType.ISSUE), amounts, st.none(), wallet_refs),
    st.builds(Operation, st.just(OperationType.REDEEM), amounts, wallet_refs, st.none()),
    st.builds(
        HoldOperation, st.just(""), wallet_refs, hold_amounts, st.none() | wallet_refs, timeouts
    ),
    st.builds(CaptureOperation, hold_refs, st.none() | st.integers(1, 32) | hold_amounts),
    st.builds(VoidOperation, hold_refs),
    st.builds(ExpireOperation, hold_refs),
)


def with_hold_ids(ops: list[AnyOperation], prefix: str = "new") -> list[AnyOperation]:
    """Each new hold's id, as a caller derives it: from the transaction and the operation."""
    return [
        op._replace(hold_id=f"{prefix}{index}") if isinstance(op, HoldOperation) else op
        for index, op in enumerate(ops)
    ]


transactions = st.lists(operations, min_size=1, max_size=6).map(with_hold_ids)

Outcome = tuple[object, ...]


class Reference:
    """The core's rules as its docstring lists them, one operation at a time and with nothing
    made fast: balances and held balances that moved, postings with the held balance each
    leaves, and the holds changed; or the index and code of the first failure."""

    def __init__(self, wallets: Mapping[str, Wallet], holds: Mapping[str, Hold], now: datetime):
        self.wallets, self.now, self.state = wallets, now, dict(holds)
        self.balance = {w: wallet.balance for w, wallet in wallets.items()}
        self.held = {w: wallet.held for w, wallet in wallets.items()}
        self.moved: set[str] = set()
        self.held_moved: set[str] = set()
        self.changed: dict[str, Hold] = {}
        self.postings: list[tuple[object, ...]] = []

    def apply(self, ops: list[AnyOperation]) -> Outcome:
        for index, op in enumerate(ops):
            if isinstance(op, (Operation, HoldOperation)):
                code = self.move_or_hold(index, op)
            else:
                code = self.resolve(index, op)
            if code is not None:
                return index, code
        balances = {w: self.balance[w] for w in self.moved}
        return balances, self.postings, {w: self.held[w] for w in self.held_moved}, self.changed

    def move_or_hold(self, index: int, op: Operation | HoldOperation) -> FailureCode | None:
        source, target, amount = op.from_wallet_id, op.to_wallet_id, op.amount
        ends = [w for w in (source, target) if w is not None]
        if len(ends) == 2 and source == target:
            return FailureCode.SAME_WALLET
        if any(w not in self.wallets for w in ends):
            return FailureCode.WALLET_NOT_FOUND
        if len(ends) == 2 and self.wallets[ends[0]].asset_id != self.wallets[ends[1]].asset_id:
            return FailureCode.ASSET_MISMATCH
        if any(self.closed(w) for w in ends):
            return FailureCode.WALLET_NOT_OPEN
        if source is not None and self.balance[source] - self.held[source] < amount:
            return FailureCode.INSUFFICIENT_FUNDS
        if target is not None and self.balance[target] + amount > AMOUNT_MAX:
            return FailureCode.BALANCE_OVERFLOW
        if isinstance(op, Operation):
            self.move(index, amount, source, target)
            return None
        expires_at = None if op.timeout_s is None else self.now + op.timeout_s * SECOND
        hold = Hold(op.hold_id, op.from_wallet_id, target, amount, 0, PENDING, expires_at)
        self.changed[hold.id] = self.state[hold.id] = hold
        self.post(hold.wallet_id, index, EntryType.HOLD, amount, target)
        return None

    def resolve(
        self, index: int, op: CaptureOperation | VoidOperation | ExpireOperation
    ) -> FailureCode | None:
        hold = self.state.get(op.hold_id)
        if hold is None:
            return FailureCode.HOLD_NOT_FOUND
        amount, target = hold.amount, hold.to_wallet_id
        if isinstance(op, CaptureOperation):
            amount = hold.amount if op.amount is None else op.amount
            if any(self.closed(w) for w in (hold.wallet_id, target) if w is not None):
                return FailureCode.WALLET_NOT_OPEN
            if target is not None and self.balance[target] + amount > AMOUNT_MAX:
                return FailureCode.BALANCE_OVERFLOW
        expiring = isinstance(op, ExpireOperation)
        due = hold.expires_at is not None and self.now >= hold.expires_at
        if hold.status is HoldStatus.EXPIRED or (hold.status is PENDING and due and not expiring):
            return FailureCode.HOLD_EXPIRED
        if hold.status is not PENDING:
            return FailureCode.HOLD_NOT_PENDING
        if isinstance(op, CaptureOperation):
            if amount > hold.amount:
                return FailureCode.CAPTURE_EXCEEDS_HOLD
            self.release(index, hold, HoldStatus.CAPTURED, amount)
            self.move(index, amount, hold.wallet_id, target)
        elif expiring:
            if not due:
                return FailureCode.HOLD_NOT_EXPIRED
            self.release(index, hold, HoldStatus.EXPIRED, 0)
        else:
            self.release(index, hold, HoldStatus.VOIDED, 0)
        return None

    def closed(self, wallet_id: str) -> bool:
        return self.wallets[wallet_id].status is not WalletStatus.OPEN

    def move(self, index: int, amount: int, source: str | None, target: str | None) -> None:
        if source is not None:
            kind = EntryType.REDEEM if target is None else EntryType.DEBIT
            self.post(source, index, kind, amount, target)
        if target is not None:
            kind = EntryType.ISSUE if source is None else EntryType.CREDIT
            self.post(target, index, kind, amount, source)

    def release(self, index: int, hold: Hold, status: HoldStatus, captured: int) -> None:
        hold = self.changed[hold.id] = self.state[hold.id] = hold._replace(
            status=status, captured_amount=captured
        )
        self.post(hold.wallet_id, index, EntryType.RELEASE, hold.amount, hold.to_wallet_id)

    def post(
        self, wallet_id: str, index: int, kind: EntryType, amount: int, counterparty: str | None
    ) -> None:
        if kind in (EntryType.DEBIT, EntryType.REDEEM):
            self.balance[wallet_id] -= amount
        elif kind in (EntryType.CREDIT, EntryType.ISSUE):
            self.balance[wallet_id] += amount
        elif kind is EntryType.HOLD:
            self.held[wallet_id] += amount
        else:
            self.held[wallet_id] -= amount
        holding = kind in (EntryType.HOLD, EntryType.RELEASE)
        (self.held_moved if holding else self.moved).add(wallet_id)
        balance, held = self.balance[wallet_id], self.held[wallet_id]
        self.postings.append((wallet_id, index, kind, amount, balance, held, counterparty))


def outcome(result: Applied | Failure) -> Outcome:
    if isinstance(result, Failure):
        return result.operation_index, result.code
    postings = [
        (*posting[:5], held_after, posting[5])
        for posting, held_after in zip(result.postings, result.held_after, strict=True)
    ]
    return dict(result.balances), postings, dict(result.held), dict(result.holds)


@settings(max_examples=1500)
@given(books(), transactions)
def test_apply_agrees_with_the_rules_as_listed(
    ledger: tuple[dict[str, Wallet], dict[str, Hold]], ops: list[AnyOperation]
) -> None:
    """Every outcome, failures and their precedence included, is the one the listed rules
    give when followed literally."""
    wallets, holds = ledger
    assert outcome(apply(wallets, ops, holds, NOW)) == Reference(wallets, holds, NOW).apply(ops)


def advance(
    wallets: dict[str, Wallet], holds: dict[str, Hold], result: Applied
) -> tuple[dict[str, Wallet], dict[str, Hold]]:
    """The wallets and holds as a successful transaction leaves them."""
    wallets = {
        w: wallet._replace(
            balance=result.balances.get(w, wallet.balance), held=result.held.get(w, wallet.held)
        )
        for w, wallet in wallets.items()
    }
    return wallets, {**holds, **result.holds}


def check_books(wallets: Mapping[str, Wallet], holds: Mapping[str, Hold]) -> None:
    """Available never negative; held = the sum of Pending holds; captures within holds."""
    for wallet in wallets.values():
        pending = [
            h.amount for h in holds.values() if h.wallet_id == wallet.id and h.status is PENDING
        ]
        assert wallet.held == sum(pending)
        assert 0 <= wallet.held <= wallet.balance <= AMOUNT_MAX
    for hold in holds.values():
        assert 0 <= hold.captured_amount <= hold.amount
        assert (hold.captured_amount > 0) == (hold.status is HoldStatus.CAPTURED)


def check_expiry_never_early(
    holds: Mapping[str, Hold], ops: list[AnyOperation], result: Applied | Failure, now: datetime
) -> None:
    """An Expire succeeds, and a Capture or Void of a Pending hold fails HoldExpired, only at or
    after the hold's instant; a hold that becomes Expired has its instant behind it."""
    if isinstance(result, Failure):
        op = ops[result.operation_index]
        before = holds.get(getattr(op, "hold_id", ""))
        if (
            result.code is FailureCode.HOLD_EXPIRED
            and before is not None
            and before.status is PENDING
        ):
            assert before.expires_at is not None and now >= before.expires_at
        return
    for hold in result.holds.values():
        if hold.status is HoldStatus.EXPIRED:
            assert hold.expires_at is not None and now >= hold.expires_at
        if hold.status in (HoldStatus.CAPTURED, HoldStatus.VOIDED):
            assert hold.expires_at is None or now < hold.expires_at


@settings(max_examples=400)
@given(
    books(),
    st.lists(st.tuples(transactions, st.integers(0, 2)), min_size=1, max_size=6),
)
def test_a_run_of_transactions_keeps_the_books(
    ledger: tuple[dict[str, Wallet], dict[str, Hold]],
    run: list[tuple[list[AnyOperation], int]],
) -> None:
    """Transactions applied one after another, the clock moving on: the books hold after each,
    value is conserved, a hold resolves at most once and never early."""
    wallets, holds = ledger
    check_books(wallets, holds)
    issued: dict[str, int] = defaultdict(int)
    start = totals_by_asset(wallets)
    now = NOW
    for number, (generated, step_s) in enumerate(run):
        now += step_s * SECOND
        ops = with_hold_ids(generated, f"t{number}-")
        result = apply(wallets, ops, holds, now)
        check_expiry_never_early(holds, ops, result, now)
        if isinstance(result, Failure):
            continue
        for hold_id in result.holds:
            # Resolves at most once: only a new or a Pending hold changes.
            assert hold_id not in holds or holds[hold_id].status is PENDING
        for asset, amount in net_issued(wallets, result.postings).items():
            issued[asset] += amount
        wallets, holds = advance(wallets, holds, result)
        check_books(wallets, holds)
        for asset, total in totals_by_asset(wallets).items():
            assert total == start[asset] + issued[asset]


@settings(max_examples=500)
@given(books(), transactions)
def test_entries_chain_balance_and_held(
    ledger: tuple[dict[str, Wallet], dict[str, Hold]], ops: list[AnyOperation]
) -> None:
    """Each posting's balance and held balance follow from the previous ones of its wallet:
    Hold and Release move only the held balance, every other posting only the balance."""
    wallets, holds = ledger
    result = apply(wallets, ops, holds, NOW)
    if not isinstance(result, Applied):
        return
    balance = {w: wallet.balance for w, wallet in wallets.items()}
    held = {w: wallet.held for w, wallet in wallets.items()}
    signs = {
        EntryType.ISSUE: (1, 0),
        EntryType.CREDIT: (1, 0),
        EntryType.DEBIT: (-1, 0),
        EntryType.REDEEM: (-1, 0),
        EntryType.HOLD: (0, 1),
        EntryType.RELEASE: (0, -1),
    }
    for posting, held_after in zip(result.postings, result.held_after, strict=True):
        balance_sign, held_sign = signs[posting.type]
        balance[posting.wallet_id] += balance_sign * posting.amount
        held[posting.wallet_id] += held_sign * posting.amount
        assert (posting.balance_after, held_after) == (
            balance[posting.wallet_id],
            held[posting.wallet_id],
        )
        assert posting.balance_after - held_after >= 0
    assert all(balance[w] == b for w, b in result.balances.items())
    assert all(held[w] == h for w, h in result.held.items())


@settings(max_examples=300)
@given(books(), transactions)
def test_apply_is_pure_and_a_replayed_resolution_never_applies_twice(
    ledger: tuple[dict[str, Wallet], dict[str, Hold]], ops: list[AnyOperation]
) -> None:
    """The same inputs give the same outcome and stay as they were (so a batch planned again
    from the same rows is the same plan); and a transaction that resolved a hold, applied again
    to what it left, fails: a replay that got past the reference ID would move nothing."""
    wallets, holds = ledger
    before = (dict(wallets), dict(holds))
    result = apply(wallets, ops, holds, NOW)
    assert apply(wallets, ops, holds, NOW) == result
    assert (dict(wallets), dict(holds)) == before
    resolves = any(isinstance(op, (CaptureOperation, VoidOperation, ExpireOperation)) for op in ops)
    makes = any(isinstance(op, HoldOperation) for op in ops)
    if isinstance(result, Applied) and resolves and not makes:
        wallets_after, holds_after = advance(wallets, holds, result)
        assert isinstance(apply(wallets_after, ops, holds_after, NOW), Failure)
