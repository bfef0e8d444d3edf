"""The status rules of wallets and customers, as plain functions: no I/O, no clock.

A wallet moves by this table; Closed is final and only an empty wallet, with no Pending hold,
closes:

    Open      -> Suspended | Closed
    Suspended -> Open | Closed
    Closed    -> (nothing)

Asking for the status a wallet already has is a no-op, not a transition, so a retried
request answers the same as the first. The checks run in this fixed order, so the same
request always gets the same code:

1. InvalidStatusTransition  the table above forbids the move
2. WalletNotEmpty           closing a wallet that has a Pending hold (held balance not 0), or
                            whose balance is not 0
3. CustomerSuspended        reopening a wallet whose customer is Suspended
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.core.ledger import WalletStatus

TRANSITIONS: dict[WalletStatus, frozenset[WalletStatus]] = {
    WalletStatus.OPEN: frozenset({WalletStatus.SUSPENDED, WalletStatus.CLOSED}),
    WalletStatus.SUSPENDED: frozenset({WalletStatus.OPEN, WalletStatus.CLOSED}),
    WalletStatus.CLOSED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a status change is refused: a stable code and a sentence for people."""

    code: str
    message: str


def check_wallet_transition(
    current: WalletStatus,
    target: WalletStatus,
    *,
    balance: int,
    customer_suspended: bool,
    held: int = 0,
) -> Refusal | None:
    """None when the wallet may move from `current` to `target`, else the first refusal.
    `held` is the wallet's held balance, the sum of its Pending holds."""
    if current == target:
        return None
    if target not in TRANSITIONS[current]:
        return Refusal("InvalidStatusTransition", f"a {current} wallet cannot become {target}")
    if target is WalletStatus.CLOSED and held != 0:
        return Refusal(
            "WalletNotEmpty", "a wallet with a pending hold cannot be closed: capture or void it"
        )
    if target is WalletStatus.CLOSED and balance != 0:
        return Refusal("WalletNotEmpty", "only a wallet with a balance of 0 can be closed")
    if target is WalletStatus.OPEN and customer_suspended:
        return Refusal(
            "CustomerSuspended", "the wallet's customer is suspended: resume the customer"
        )
    return None
