"""The ledger core: every balance rule of cloudwallet, as plain functions over frozen values.

No I/O, no clock, no randomness: `apply` takes the touched wallets and an ordered list of
operations and returns either the postings and new balances, or the first failure.

The values are NamedTuples: as immutable as frozen dataclasses, built in half the time and
compared in C. The writer builds about a dozen of them per transaction
(docs/decisions/0005-group-commit-and-planning-ahead.md).

Failure precedence, checked operation by operation in the listed order, and within one
operation in this fixed order (the first that holds is the answer):

1. SameWallet          a Transfer whose `from` and `to` are the same wallet
2. WalletNotFound      `from`, then `to`, is not a wallet of the project
3. AssetMismatch       a Transfer between wallets of different assets
4. WalletNotOpen       `from`, then `to`, is Suspended or Closed
5. InsufficientFunds   `from` holds less than the amount (after the earlier operations)
6. BalanceOverflow     `to` would exceed AMOUNT_MAX

A transaction is all or nothing: on a failure no posting and no balance change is returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import NamedTuple

from shared.errors import InvariantViolation, invariant

AMOUNT_MAX = 2**127 - 1


class OperationType(StrEnum):
    TRANSFER = "Transfer"
    ISSUE = "Issue"
    REDEEM = "Redeem"


class EntryType(StrEnum):
    ISSUE = "Issue"
    REDEEM = "Redeem"
    DEBIT = "Debit"
    CREDIT = "Credit"


class WalletStatus(StrEnum):
    OPEN = "Open"
    SUSPENDED = "Suspended"
    CLOSED = "Closed"


class FailureCode(StrEnum):
    SAME_WALLET = "SameWallet"
    WALLET_NOT_FOUND = "WalletNotFound"
    ASSET_MISMATCH = "AssetMismatch"
    WALLET_NOT_OPEN = "WalletNotOpen"
    INSUFFICIENT_FUNDS = "InsufficientFunds"
    BALANCE_OVERFLOW = "BalanceOverflow"


class Wallet(NamedTuple):
    """What the core needs to know of a wallet."""

    id: str
    asset_id: str
    status: WalletStatus
    balance: int


class Operation(NamedTuple):
    """One Transfer (from and to), Issue (to) or Redeem (from) of `amount` smallest units."""

    type: OperationType
    amount: int
    from_wallet_id: str | None = None
    to_wallet_id: str | None = None


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


class Applied(NamedTuple):
    """A successful transaction: the new balance of every touched wallet and its postings."""

    balances: Mapping[str, int]
    postings: tuple[Posting, ...]


def apply(wallets: Mapping[str, Wallet], operations: Sequence[Operation]) -> Applied | Failure:
    """Apply `operations` in order to `wallets`; return every posting, or the first failure."""
    invariant(len(operations) > 0, "a transaction has at least one operation")
    balances: dict[str, int] = {}
    postings: list[Posting] = []
    for index, operation in enumerate(operations):
        failure = _check(wallets, balances, index, operation)
        if failure is not None:
            return failure
        _post(wallets, balances, postings, index, operation)
    return Applied(balances, tuple(postings))


def _check(
    wallets: Mapping[str, Wallet], balances: Mapping[str, int], index: int, operation: Operation
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
        and balances.get(source, debited.balance) < amount
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
    index: int,
    operation: Operation,
) -> None:
    """Append the operation's postings (debit or redeem first) and move the balances."""
    _, amount, source, target = operation
    if source is not None:
        balance = balances[source] = balances.get(source, wallets[source].balance) - amount
        entry_type = EntryType.REDEEM if target is None else EntryType.DEBIT
        postings.append(Posting(source, index, entry_type, amount, balance, target))
    if target is not None:
        balance = balances[target] = balances.get(target, wallets[target].balance) + amount
        entry_type = EntryType.ISSUE if source is None else EntryType.CREDIT
        postings.append(Posting(target, index, entry_type, amount, balance, source))
