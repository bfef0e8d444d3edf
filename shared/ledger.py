"""The ledger core: every balance rule of cloudwallet, as plain functions over frozen values.

No I/O, no clock, no randomness: `apply` takes the touched wallets and an ordered list of
operations and returns either the postings and new balances, or the first failure.

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
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import invariant

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


@dataclass(frozen=True, slots=True)
class Wallet:
    """What the core needs to know of a wallet."""

    id: str
    asset_id: str
    status: WalletStatus
    balance: int


@dataclass(frozen=True, slots=True)
class Operation:
    """One Transfer (from and to), Issue (to) or Redeem (from) of `amount` smallest units."""

    type: OperationType
    amount: int
    from_wallet_id: str | None = None
    to_wallet_id: str | None = None


@dataclass(frozen=True, slots=True)
class Posting:
    """One line of a wallet's ledger, as the core decides it."""

    wallet_id: str
    operation_index: int
    type: EntryType
    amount: int
    balance_after: int
    counterparty_wallet_id: str | None


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a transaction failed, and at which operation."""

    operation_index: int
    code: FailureCode
    message: str


@dataclass(frozen=True, slots=True)
class Applied:
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
        postings.extend(_post(wallets, balances, index, operation))
    return Applied(balances=balances, postings=tuple(postings))


def _balance(wallets: Mapping[str, Wallet], balances: Mapping[str, int], wallet_id: str) -> int:
    return balances.get(wallet_id, wallets[wallet_id].balance)


def _check(
    wallets: Mapping[str, Wallet], balances: Mapping[str, int], index: int, operation: Operation
) -> Failure | None:
    invariant(1 <= operation.amount <= AMOUNT_MAX, f"amount out of range at operation {index}")
    source, target = operation.from_wallet_id, operation.to_wallet_id
    invariant(
        (source is not None) == (operation.type is not OperationType.ISSUE)
        and (target is not None) == (operation.type is not OperationType.REDEEM),
        f"operation {index} has the wrong wallets for a {operation.type}",
    )
    if source is not None and source == target:
        return Failure(index, FailureCode.SAME_WALLET, "a transfer needs two different wallets")
    for wallet_id in (source, target):
        if wallet_id is not None and wallet_id not in wallets:
            return Failure(index, FailureCode.WALLET_NOT_FOUND, f"wallet {wallet_id} not found")
    is_transfer = source is not None and target is not None
    if is_transfer and wallets[source].asset_id != wallets[target].asset_id:  # type: ignore[index]
        return Failure(
            index, FailureCode.ASSET_MISMATCH, "a transfer needs two wallets of one asset"
        )
    for wallet_id in (source, target):
        if wallet_id is not None and wallets[wallet_id].status is not WalletStatus.OPEN:
            return Failure(index, FailureCode.WALLET_NOT_OPEN, f"wallet {wallet_id} is not Open")
    if source is not None and _balance(wallets, balances, source) < operation.amount:
        return Failure(
            index, FailureCode.INSUFFICIENT_FUNDS, f"wallet {source} holds less than the amount"
        )
    if target is not None and _balance(wallets, balances, target) + operation.amount > AMOUNT_MAX:
        return Failure(
            index, FailureCode.BALANCE_OVERFLOW, f"wallet {target} would exceed the largest balance"
        )
    return None


def _post(
    wallets: Mapping[str, Wallet], balances: dict[str, int], index: int, operation: Operation
) -> list[Posting]:
    source, target, amount = operation.from_wallet_id, operation.to_wallet_id, operation.amount
    postings: list[Posting] = []
    if source is not None:
        balances[source] = _balance(wallets, balances, source) - amount
        entry_type = EntryType.REDEEM if target is None else EntryType.DEBIT
        postings.append(Posting(source, index, entry_type, amount, balances[source], target))
    if target is not None:
        balances[target] = _balance(wallets, balances, target) + amount
        entry_type = EntryType.ISSUE if source is None else EntryType.CREDIT
        postings.append(Posting(target, index, entry_type, amount, balances[target], source))
    return postings
