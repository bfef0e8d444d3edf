"""Change a wallet's status by the transition table of `shared.core.lifecycle`.

The change serializes with the worker: it locks the wallet row FOR UPDATE, reads status,
balance and held balance under the lock, and writes in the same database transaction, while
the worker locks the same rows before it applies a batch. So a wallet is closed only with a
balance of 0 and no Pending hold, which no batch can change any more (a Closed wallet takes
part in no transaction), and a batch that commits after a suspension sees the wallet
Suspended. The customer row is locked (shared)
before the wallet, in the order every customer operation uses."""

from __future__ import annotations

from aiohttp import web

from gateway import responses
from gateway.app_keys import DATABASE
from gateway.handlers.wallets import found_wallet
from gateway.http import json_response, read_model
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from gateway.representations import wallet_from_row
from gateway.requests import ChangeWalletStatus
from shared.core.ledger import WalletStatus
from shared.core.lifecycle import check_wallet_transition
from shared.database import Connection
from shared.errors import Conflict

LOCK_WALLET = "SELECT * FROM wallets WHERE id = $1 AND project_id = $2 FOR UPDATE"


async def change_wallet_status(request: web.Request) -> web.Response:
    body = await read_model(request, ChangeWalletStatus)
    wallet_id, project_id = request.match_info["walletId"], request.match_info["projectId"]
    database = request.app[DATABASE]
    # A wallet's customer never changes, so it can be read before any lock is taken.
    owner = found_wallet(
        request,
        await database.fetchrow(
            "SELECT customer_id FROM wallets WHERE id = $1 AND project_id = $2",
            wallet_id,
            project_id,
        ),
    )
    async with database.transaction() as connection:
        customer_suspended = await _customer_suspended(connection, project_id, owner["customer_id"])
        row = found_wallet(request, await connection.fetchrow(LOCK_WALLET, wallet_id, project_id))
        target = WalletStatus(body.target())
        refusal = check_wallet_transition(
            WalletStatus(row["status"]),
            target,
            balance=int(row["balance"]),
            customer_suspended=customer_suspended,
            held=int(row["held"]),
        )
        if refusal is not None:
            raise Conflict(
                refusal.message,
                code=refusal.code,
                details={
                    "status": row["status"],
                    "balance": str(int(row["balance"])),
                    "heldBalance": str(int(row["held"])),
                },
            )
        if target != row["status"]:
            row = found_wallet(
                request,
                await connection.fetchrow(
                    "UPDATE wallets SET status = $2, updated_at = now() WHERE id = $1 RETURNING *",
                    wallet_id,
                    target,
                ),
            )
    return json_response(wallet_from_row(row))


async def _customer_suspended(
    connection: Connection, project_id: str, customer_id: str | None
) -> bool:
    if customer_id is None:
        return False
    status = await connection.fetchval(
        "SELECT status FROM customers WHERE project_id = $1 AND id = $2 FOR SHARE",
        project_id,
        customer_id,
    )
    return bool(status == "Suspended")


CHANGE_WALLET_STATUS = Endpoint(
    "changeWalletStatus",
    change_wallet_status,
    "Suspend, reopen or close a wallet",
    "Wallets",
    response=responses.Wallet,
    response_example=examples.dump(examples.WALLET.model_copy(update={"status": "Suspended"})),
    body=ChangeWalletStatus,
    body_example={"status": "Suspended"},
    errors=("WalletNotFound", "InvalidStatusTransition", "WalletNotEmpty", "CustomerSuspended"),
    description="Open -> Suspended | Closed; Suspended -> Open | Closed (Active is another"
    " word for Open); Closed is final (409"
    " InvalidStatusTransition). Only a wallet with a balance of 0 and no Pending hold closes"
    " (409 WalletNotEmpty, with details.balance and details.heldBalance)."
    " A wallet of a suspended customer reopens only by resuming the customer (409"
    " CustomerSuspended). Asking for the current status changes nothing.",
)
