"""The smoke flow of the clients job, with the Python client openapi-python-client generated
from the served document (package `cloudwallet_generated`): a project, an asset, a customer,
a system and a customer wallet, a transaction submitted and polled to Completed, the
transactions listed, the wallet's entries, and a DuplicateReferenceId read as the typed error
body (its code, requestMatches and transaction). Each step raises if the generated client
cannot do it; the flow returns the steps done."""

from __future__ import annotations

import importlib
import time
from typing import Any

PACKAGE = "cloudwallet_generated"
POLL_S = 0.05
POLL_TIMEOUT_S = 30.0


def operation(tag: str, name: str) -> Any:
    """A generated operation module (`api/<tag>/<operation>.py`)."""
    return importlib.import_module(f"{PACKAGE}.api.{tag}.{name}")


def model(name: str) -> Any:
    return getattr(importlib.import_module(f"{PACKAGE}.models"), name)


def expect(value: Any, kind: str) -> Any:
    """`value` if it is the generated model `kind` (a failed parse gives None or an error)."""
    if type(value).__name__ != kind:
        raise AssertionError(f"expected a {kind}, got {value!r}")
    return value


def run(url: str, api_key: str) -> list[str]:
    client = importlib.import_module(PACKAGE).AuthenticatedClient(
        base_url=url, token=api_key, raise_on_unexpected_status=True
    )
    steps = []
    project = expect(
        operation("projects", "create_project").sync(
            client=client, body=model("CreateProject")(name="generated")
        ),
        "Project",
    )
    body = model("CreateAsset")(name="Points", code="PTS", fractions=1)
    asset = expect(
        operation("assets", "create_asset").sync(project.id, client=client, body=body), "Asset"
    )
    body = model("UpsertCustomer")(id="alice", name="Alice")
    customer = expect(
        operation("customers", "upsert_customer").sync(project.id, client=client, body=body),
        "Customer",
    )
    body = model("OpenSystemWallet")(asset_id=asset.id, name="treasury")
    treasury = expect(
        operation("wallets", "open_system_wallet").sync(project.id, client=client, body=body),
        "Wallet",
    )
    body = model("OpenWallet")(customer_id=customer.id, asset_id=asset.id)
    wallet = expect(
        operation("wallets", "open_wallet").sync(project.id, client=client, body=body), "Wallet"
    )
    steps.append("project, asset, customer, wallets")

    operations = [
        model("IssueOperation")(type_="Issue", to=treasury.id, amount="1000"),
        model("TransferOperation")(type_="Transfer", from_=treasury.id, to=wallet.id, amount="250"),
    ]
    body = model("SubmitTransaction")(reference_id="order-1", operations=operations)
    submit = operation("transactions", "submit_transaction")
    accepted = expect(submit.sync(project.id, client=client, body=body), "TransactionAccepted")
    transaction = poll(client, project.id, accepted.id)
    if (transaction.status, transaction.operations[1].amount) != ("Completed", "250"):
        raise AssertionError(f"not the transaction submitted: {transaction!r}")
    steps.append("transaction submitted and polled to Completed")

    listed = expect(
        operation("transactions", "list_transactions").sync(project.id, client=client),
        "TransactionPage",
    )
    if [item.id for item in listed.items] != [accepted.id]:
        raise AssertionError(f"listed {listed!r}")
    steps.append("transactions listed")
    entries = expect(
        operation("wallets", "list_entries").sync(project.id, wallet.id, client=client), "EntryPage"
    )
    shown = [(entry.type_, entry.amount, entry.balance_after) for entry in entries.items]
    if shown != [("Credit", "250", "250")]:
        raise AssertionError(f"entries {shown}")
    steps.append("entries read")

    redeem = model("RedeemOperation")(type_="Redeem", from_=wallet.id, amount="1")
    body = model("SubmitTransaction")(reference_id="order-1", operations=[redeem])
    answer = submit.sync_detailed(project.id, client=client, body=body)
    error = expect(answer.parsed, "ErrorBody").error
    details = error.details
    if (answer.status_code, error.code) != (409, "DuplicateReferenceId"):
        raise AssertionError(f"not a duplicate: {answer.status_code} {error!r}")
    if details.request_matches is not False or details.transaction.id != accepted.id:
        raise AssertionError(f"duplicate without its details: {details!r}")
    expect(details.transaction, "Transaction")
    steps.append("DuplicateReferenceId read as the typed ErrorBody")
    return steps


def poll(client: Any, project_id: str, transaction_id: str) -> Any:
    get = operation("transactions", "get_transaction")
    deadline = time.monotonic() + POLL_TIMEOUT_S
    while time.monotonic() < deadline:
        transaction = expect(get.sync(project_id, transaction_id, client=client), "Transaction")
        if transaction.status != "Pending":
            return transaction
        time.sleep(POLL_S)
    raise AssertionError(f"transaction {transaction_id} still Pending after {POLL_TIMEOUT_S} s")
