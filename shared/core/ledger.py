"""The ledger core: every balance rule of cloudwallet, as plain functions over frozen values.

No I/O, no clock, no randomness: `apply` takes the touched wallets, the holds its operations
name, the batch's instant and an ordered list of operations, and returns either the postings,
the new balances, held balances and holds, or the first failure. The caller chooses the id of
every new hold (it travels in its HoldOperation) and passes the instant.

The values are NamedTuples: as immutable as frozen dataclasses, built in half the time and
compared in C. The writer builds about a dozen of them per transaction
(docs/decisions/0005-group-commit-and-planning-ahead.md).

Holds (docs/decisions/0016-holds-in-the-core.md): a wallet's `held` is the sum of its Pending
holds, and its available balance, `balance - held`, is never below 0. A Hold reserves its
amount in `from` as a pending Transfer to `to`, or a pending Redeem, and is checked as that
Transfer or Redeem. A hold is resolved once: a Capture releases it and applies its Transfer or
Redeem for the captured amount (the whole hold by default); a Void releases it; an Expire, the
service's own operation, releases it once its instant has come. Only Hold and Release postings
move a wallet's held balance, each by its amount; every other posting moves only its balance.

Failure precedence, checked operation by operation in the listed order, and within one
operation in this fixed order (the first that holds is the answer):

1. SameWallet          a Transfer or Hold whose `from` and `to` are the same wallet
2. WalletNotFound      `from`, then `to`, is not a wallet of the project
3. AssetMismatch       a Transfer or Hold between wallets of different assets
4. WalletNotOpen       `from`, then `to`, is Suspended or Closed (a Void or Expire does not ask)
5. InsufficientFunds   a Transfer, Redeem or Hold whose `from` has less available than the
                       amount (after the earlier operations); a Capture draws on its own hold
6. BalanceOverflow     `to` would exceed AMOUNT_MAX (a Hold checks it as its Transfer would)
7. HoldNotFound        a Capture, Void or Expire names no hold of the project; its wallets are
                       its hold's, so 1-6 can only hold once its hold is found
8. HoldExpired         the hold is Expired, or a Capture or Void comes at or after its instant
9. HoldNotPending      the hold is Captured or Voided
10. CaptureExceedsHold a Capture of more than its hold's amount
11. HoldNotExpired     an Expire before its hold's instant, or of a hold that never expires

A transaction is all or nothing: on a failure no posting and no balance change is returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

from shared.errors import InvariantViolation, invariant

AMOUNT_MAX = 2**127 - 1
HOLD_TIMEOUT_S_MAX = 31_536_000  # a year


class OperationType(StrEnum):
    TRANSFER = "Transfer"
    ISSUE = "Issue"
    REDEEM = "Redeem"


class EntryType(StrEnum):
    ISSUE = "Issue"
    REDEEM = "Redeem"
    DEBIT = "Debit"
    CREDIT = "Credit"
    HOLD = "Hold"
    RELEASE = "Release"


class WalletStatus(StrEnum):
    OPEN = "Open"
    SUSPENDED = "Suspended"
    CLOSED = "Closed"


class HoldStatus(StrEnum):
    PENDING = "Pending"
    CAPTURED = "Captured"
    VOIDED = "Voided"
    EXPIRED = "Expired"


class FailureCode(StrEnum):
    SAME_WALLET = "SameWallet"
    WALLET_NOT_FOUND = "WalletNotFound"
    ASSET_MISMATCH = "AssetMismatch"
    WALLET_NOT_OPEN = "WalletNotOpen"
    INSUFFICIENT_FUNDS = "InsufficientFunds"
    BALANCE_OVERFLOW = "BalanceOverflow"
    HOLD_NOT_FOUND = "HoldNotFound"
    HOLD_EXPIRED = "HoldExpired"
    HOLD_NOT_PENDING = "HoldNotPending"
    CAPTURE_EXCEEDS_HOLD = "CaptureExceedsHold"
    HOLD_NOT_EXPIRED = "HoldNotExpired"


class Wallet(NamedTuple):
    """What the core needs to know of a wallet; `held` is the sum of its Pending holds."""

    id: str
    asset_id: str
    status: WalletStatus
    balance: int
    held: int = 0


class Hold(NamedTuple):
    """A reservation of `amount` in `wallet_id`: a pending Transfer to `to_wallet_id`, or a
    pending Redeem when that is None. It expires at `expires_at`, or never when None."""

    id: str
    wallet_id: str
    to_wallet_id: str | None
    amount: int
    captured_amount: int
    status: HoldStatus
    expires_at: datetime | None


class Operation(NamedTuple):
    """One Transfer (from and to), Issue (to) or Redeem (from) of `amount` smallest units."""

    type: OperationType
    amount: int
    from_wallet_id: str | None = None
    to_wallet_id: str | None = None


class HoldOperation(NamedTuple):
    """Reserve `amount` of `from_wallet_id` as the new hold `hold_id` (chosen by the caller),
    expiring `timeout_s` after the transaction's instant, or never when None."""

    hold_id: str
    from_wallet_id: str
    amount: int
    to_wallet_id: str | None = None
    timeout_s: int | None = None


class CaptureOperation(NamedTuple):
    """Apply the hold's Transfer or Redeem for `amount` (None: the hold's) and release it."""

    hold_id: str
    amount: int | None = None


class VoidOperation(NamedTuple):
    """Release the hold."""

    hold_id: str


class ExpireOperation(NamedTuple):
    """Release the hold as Expired: the service's own operation, once its instant has come."""

    hold_id: str


AnyOperation = Operation | HoldOperation | CaptureOperation | VoidOperation | ExpireOperation


class Posting(NamedTuple):
    """One line of a wallet's ledger, as the core decides it."""

    wallet_id: str
    operation_index: int
    type: EntryType
    amount: int
    balance_after: int
    counterparty_wallet_id: str | None


class Failure(NamedTuple):
    """Why a transaction failed, and at which operation."""

    operation_index: int
    code: FailureCode
    message: str


NO_HOLDS: Mapping[str, Hold] = MappingProxyType({})
NO_HELD: Mapping[str, int] = MappingProxyType({})


class Applied(NamedTuple):
    """A successful transaction: the new balance of every wallet whose balance moved, its
    postings, the held balance each posting leaves its wallet at (`held_after[i]` is that of
    `postings[i]`), the new held balance of every wallet whose held balance moved, and every
    hold it created or resolved, as it leaves them. Only `apply` makes a whole one: the defaults
    keep the two-field form of a result without holds that tests build."""

    balances: Mapping[str, int]
    postings: tuple[Posting, ...]
    held_after: tuple[int, ...] = ()
    held: Mapping[str, int] = NO_HELD
    holds: Mapping[str, Hold] = NO_HOLDS


def apply(
    wallets: Mapping[str, Wallet],
    operations: Sequence[AnyOperation],
    holds: Mapping[str, Hold] = NO_HOLDS,
    now: datetime | None = None,
) -> Applied | Failure:
    """Apply `operations` in order to `wallets` and `holds` at the instant `now`; return every
    posting, or the first failure. `holds` are the project's holds the operations name, and
    `wallets` include theirs; `now` is needed once an operation concerns holds."""
    invariant(len(operations) > 0, "a transaction has at least one operation")
    balances: dict[str, int] = {}
    postings: list[Posting] = []
    held_after: list[int] = []
    books: _Books | None = None
    for index, operation in enumerate(operations):
        if type(operation) is Operation:
            failure = _check(wallets, balances, index, operation)
            if failure is not None:
                return failure
            _post(wallets, balances, postings, held_after, index, operation)
            continue
        if books is None:
            if now is None or now.tzinfo is None:
                raise InvariantViolation("operations on holds need the batch's aware instant")
            books = _Books(wallets, balances, postings, held_after, holds, now)
            # From here on, the wallets as the operations on holds leave their held balances.
            wallets = books.wallets
        failure = books.apply(index, operation)
        if failure is not None:
            return failure
    if books is None:
        return Applied(balances, tuple(postings), tuple(held_after), NO_HELD, NO_HOLDS)
    return Applied(balances, tuple(postings), tuple(held_after), books.held, books.changed)


def _check(
    wallets: Mapping[str, Wallet],
    balances: Mapping[str, int],
    index: int,
    operation: Operation,
) -> Failure | None:
    # Messages are formatted only when raised: this runs for every operation the writer applies.
    kind, amount, source, target = operation
    if not 1 <= amount <= AMOUNT_MAX:
        raise InvariantViolation(f"amount out of range at operation {index}")
    if (source is None) != (kind is OperationType.ISSUE) or (target is None) != (
        kind is OperationType.REDEEM
    ):
        raise InvariantViolation(f"operation {index} has the wrong wallets for a {kind}")
    if source is not None and source == target:
        return Failure(index, FailureCode.SAME_WALLET, "a transfer needs two different wallets")
    debited = credited = None
    if source is not None:
        debited = wallets.get(source)
        if debited is None:
            return Failure(index, FailureCode.WALLET_NOT_FOUND, f"wallet {source} not found")
    if target is not None:
        credited = wallets.get(target)
        if credited is None:
            return Failure(index, FailureCode.WALLET_NOT_FOUND, f"wallet {target} not found")
    if debited is not None and credited is not None and debited.asset_id != credited.asset_id:
        return Failure(
            index, FailureCode.ASSET_MISMATCH, "a transfer needs two wallets of one asset"
        )
    if debited is not None and debited.status is not WalletStatus.OPEN:
        return Failure(index, FailureCode.WALLET_NOT_OPEN, f"wallet {source} is not Open")
    if credited is not None and credited.status is not WalletStatus.OPEN:
        return Failure(index, FailureCode.WALLET_NOT_OPEN, f"wallet {target} is not Open")
    if (
        source is not None
        and debited is not None
        and balances.get(source, debited.balance) - debited.held < amount
    ):
        return Failure(
            index, FailureCode.INSUFFICIENT_FUNDS, f"wallet {source} holds less than the amount"
        )
    if (
        target is not None
        and credited is not None
        and balances.get(target, credited.balance) + amount > AMOUNT_MAX
    ):
        return Failure(
            index, FailureCode.BALANCE_OVERFLOW, f"wallet {target} would exceed the largest balance"
        )
    return None


def _post(
    wallets: Mapping[str, Wallet],
    balances: dict[str, int],
    postings: list[Posting],
    held_after: list[int],
    index: int,
    operation: Operation,
) -> None:
    """Append the operation's postings (debit or redeem first) and move the balances."""
    _, amount, source, target = operation
    if source is not None:
        wallet = wallets[source]
        balance = balances[source] = balances.get(source, wallet.balance) - amount
        entry_type = EntryType.REDEEM if target is None else EntryType.DEBIT
        postings.append(Posting(source, index, entry_type, amount, balance, target))
        held_after.append(wallet.held)
    if target is not None:
        wallet = wallets[target]
        balance = balances[target] = balances.get(target, wallet.balance) + amount
        entry_type = EntryType.ISSUE if source is None else EntryType.CREDIT
        postings.append(Posting(target, index, entry_type, amount, balance, source))
        held_after.append(wallet.held)


class _Books:
    """One transaction's state, once an operation concerns holds: its wallets with their held
    balances as its operations leave them, the same balances and postings as `apply`'s, the
    held balances that moved, the holds given and those changed, and the instant."""

    __slots__ = ("balances", "changed", "held", "held_after", "holds", "now", "postings", "wallets")

    def __init__(
        self,
        wallets: Mapping[str, Wallet],
        balances: dict[str, int],
        postings: list[Posting],
        held_after: list[int],
        holds: Mapping[str, Hold],
        now: datetime,
    ) -> None:
        self.wallets = dict(wallets)
        self.balances = balances
        self.held: dict[str, int] = {}
        self.postings = postings
        self.held_after = held_after
        self.holds = holds
        self.changed: dict[str, Hold] = {}
        self.now = now

    def apply(self, index: int, operation: AnyOperation) -> Failure | None:
        """Check and post one operation on holds, in the order of the module's precedence."""
        if type(operation) is HoldOperation:
            return self._hold(index, operation)
        if isinstance(operation, Operation):
            raise InvariantViolation(f"operation {index} is not an operation on holds")
        hold = self.changed.get(operation.hold_id) or self.holds.get(operation.hold_id)
        if hold is None:
            return Failure(index, FailureCode.HOLD_NOT_FOUND, f"hold {operation.hold_id} not found")
        invariant(hold.wallet_id in self.wallets, f"hold {hold.id} comes without its wallet")
        if type(operation) is CaptureOperation:
            return self._capture(index, operation, hold)
        failure = _resolution_failure(index, hold, self.now, type(operation) is ExpireOperation)
        if failure is not None:
            return failure
        status = HoldStatus.EXPIRED if type(operation) is ExpireOperation else HoldStatus.VOIDED
        self._release(index, hold, status, 0)
        return None

    def _hold(self, index: int, operation: HoldOperation) -> Failure | None:
        hold_id, source, amount, target, timeout_s = operation
        invariant(
            hold_id not in self.holds and hold_id not in self.changed,
            f"operation {index} would make hold {hold_id}, which exists",
        )
        if timeout_s is not None and not 1 <= timeout_s <= HOLD_TIMEOUT_S_MAX:
            raise InvariantViolation(f"timeout out of range at operation {index}")
        kind = OperationType.REDEEM if target is None else OperationType.TRANSFER
        pending = Operation(kind, amount, source, target)
        failure = _check(self.wallets, self.balances, index, pending)
        if failure is not None:
            return failure
        expires_at = None if timeout_s is None else self.now + timedelta(seconds=timeout_s)
        self.changed[hold_id] = Hold(
            hold_id, source, target, amount, 0, HoldStatus.PENDING, expires_at
        )
        self._move_held(index, EntryType.HOLD, source, amount, target)
        return None

    def _capture(self, index: int, operation: CaptureOperation, hold: Hold) -> Failure | None:
        amount = hold.amount if operation.amount is None else operation.amount
        if not 1 <= amount <= AMOUNT_MAX:
            raise InvariantViolation(f"amount out of range at operation {index}")
        source, target = hold.wallet_id, hold.to_wallet_id
        if self.wallets[source].status is not WalletStatus.OPEN:
            return Failure(index, FailureCode.WALLET_NOT_OPEN, f"wallet {source} is not Open")
        if target is not None:
            credited = self.wallets.get(target)
            if credited is None:
                raise InvariantViolation(f"hold {hold.id} comes without its wallet {target}")
            if credited.status is not WalletStatus.OPEN:
                return Failure(index, FailureCode.WALLET_NOT_OPEN, f"wallet {target} is not Open")
            if self.balances.get(target, credited.balance) + amount > AMOUNT_MAX:
                return Failure(
                    index,
                    FailureCode.BALANCE_OVERFLOW,
                    f"wallet {target} would exceed the largest balance",
                )
        failure = _resolution_failure(index, hold, self.now, expiring=False)
        if failure is not None:
            return failure
        if amount > hold.amount:
            return Failure(
                index, FailureCode.CAPTURE_EXCEEDS_HOLD, f"hold {hold.id} holds less than that"
            )
        self._release(index, hold, HoldStatus.CAPTURED, amount)
        kind = OperationType.REDEEM if target is None else OperationType.TRANSFER
        captured = Operation(kind, amount, source, target)
        _post(self.wallets, self.balances, self.postings, self.held_after, index, captured)
        return None

    def _release(self, index: int, hold: Hold, status: HoldStatus, captured_amount: int) -> None:
        # Tuples built whole here and below: NamedTuple._replace costs three times as much.
        self.changed[hold.id] = Hold(
            hold.id, hold.wallet_id, hold.to_wallet_id, hold.amount, captured_amount, status,
            hold.expires_at,
        )  # fmt: skip
        self._move_held(index, EntryType.RELEASE, hold.wallet_id, hold.amount, hold.to_wallet_id)

    def _move_held(
        self,
        index: int,
        entry_type: EntryType,
        wallet_id: str,
        amount: int,
        counterparty: str | None,
    ) -> None:
        """Post a Hold (held up by `amount`) or a Release (down); the balance stays."""
        wallet = self.wallets[wallet_id]
        held = wallet.held + (amount if entry_type is EntryType.HOLD else -amount)
        invariant(held >= 0, f"wallet {wallet_id} would hold less than nothing")
        self.wallets[wallet_id] = Wallet(
            wallet.id, wallet.asset_id, wallet.status, wallet.balance, held
        )
        self.held[wallet_id] = held
        balance = self.balances.get(wallet_id, wallet.balance)
        self.postings.append(Posting(wallet_id, index, entry_type, amount, balance, counterparty))
        self.held_after.append(held)


def _resolution_failure(index: int, hold: Hold, now: datetime, expiring: bool) -> Failure | None:
    """Whether `hold` can be resolved at `now`: conditions 8, 9 and (for an Expire) 11. Expiry
    is never early: a Pending hold is expired from its instant on, not before."""
    status, expires_at = hold.status, hold.expires_at
    due = expires_at is not None and now >= expires_at
    if status is HoldStatus.EXPIRED or (not expiring and status is HoldStatus.PENDING and due):
        return Failure(index, FailureCode.HOLD_EXPIRED, f"hold {hold.id} has expired")
    if status is not HoldStatus.PENDING:
        return Failure(index, FailureCode.HOLD_NOT_PENDING, f"hold {hold.id} is {status}")
    if expiring and not due:
        return Failure(index, FailureCode.HOLD_NOT_EXPIRED, f"hold {hold.id} has not expired")
    return None
