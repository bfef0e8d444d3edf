"""Reversals (design section 9): the inverse of a Completed transaction, decided without I/O.

A reversal applies the inverse of each of the transaction's operations in reverse order: a
Transfer from a to b becomes a Transfer from b to a, an Issue to a a Redeem from a, a Redeem
from a an Issue to a, each of the same amount. Whether the inverse can apply (InsufficientFunds
when it would overdraw, as any transaction) is then the ledger's `apply`.

Failure precedence, before any operation is applied (reported at operation index 0):

1. NotReversible     the transaction is not a Completed one of the project (unknown, or
                     Failed), or it has an operation on holds (Hold, Capture, Void, Expire)
2. AlreadyReversed   a Completed reversal of it exists
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, NamedTuple

from shared.core.ledger import AMOUNT_MAX, Operation, OperationType

_INVERSE = {
    OperationType.TRANSFER: OperationType.TRANSFER,
    OperationType.ISSUE: OperationType.REDEEM,
    OperationType.REDEEM: OperationType.ISSUE,
}
_TYPES = {kind.value: kind for kind in OperationType}


class ReversalCode(StrEnum):
    NOT_REVERSIBLE = "NotReversible"
    ALREADY_REVERSED = "AlreadyReversed"


class Reversed(NamedTuple):
    """What a reversal needs to know of the transaction it reverses."""

    status: str
    operations: Sequence[dict[str, Any]]  # as the API shows them
    reversed_by: str | None


class Refusal(NamedTuple):
    code: ReversalCode
    message: str


def inverse(transaction_id: str, target: Reversed | None) -> list[Operation] | Refusal:
    """The operations that undo `target` (the transaction `transaction_id` of the project, None
    if there is none), in order; or why it cannot be reversed."""
    if target is None:
        return Refusal(ReversalCode.NOT_REVERSIBLE, f"transaction {transaction_id} not found")
    if target.status != "Completed":
        return Refusal(
            ReversalCode.NOT_REVERSIBLE, f"transaction {transaction_id} is not Completed"
        )
    undone: list[Operation] = []
    for operation in reversed(target.operations):
        kind = _TYPES.get(operation["type"])
        if kind is None:
            return Refusal(
                ReversalCode.NOT_REVERSIBLE,
                f"transaction {transaction_id} has a {operation['type']} operation",
            )
        amount = int(operation["amount"])
        if not 1 <= amount <= AMOUNT_MAX:
            raise ValueError(f"transaction {transaction_id} has an amount out of range")
        undone.append(Operation(_INVERSE[kind], amount, operation.get("to"), operation.get("from")))
    if target.reversed_by is not None:
        return Refusal(
            ReversalCode.ALREADY_REVERSED,
            f"transaction {transaction_id} was reversed by {target.reversed_by}",
        )
    return undone


def operation_json(operation: Operation) -> dict[str, Any]:
    """An operation as the API shows it."""
    shown: dict[str, Any] = {"type": operation.type.value}
    if operation.from_wallet_id is not None:
        shown["from"] = operation.from_wallet_id
    if operation.to_wallet_id is not None:
        shown["to"] = operation.to_wallet_id
    shown["amount"] = str(operation.amount)
    return shown
