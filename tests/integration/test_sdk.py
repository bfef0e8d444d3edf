"""The Python SDK (sdk/, `cloudwallet-client`) against a live gateway and worker, as a new user
would call it: the README's walk-through with the asynchronous client, the same with the
synchronous one (in a thread, beside the gateway's event loop), typed errors from real answers
(a DuplicateReferenceId with its transaction and requestMatches, a ValidationError naming the
field, a 404), holds, reversals, metadata, balances in time, totals, pages walked by cursor,
keys, an OAuth2 client that fetches its own access token, and webhook endpoints (a delivery to
a receiver on 127.0.0.1, which the tests' settings allow, checked with `verify_webhook`)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cloudwallet_client import (
    AsyncClient,
    Capture,
    Client,
    DuplicateReferenceId,
    Forbidden,
    Hold,
    Issue,
    NotFound,
    Redeem,
    Transfer,
    Unauthorized,
    ValidationFailed,
    verify_webhook,
)
from shared.settings import Settings
from tests.support import create_tenant_key
from tests.webhook_receiver import receiving


@pytest.fixture
async def api_key(migrated: Settings) -> str:
    return await create_tenant_key(migrated)


async def test_the_walk_through_with_the_asynchronous_client(
    gateway_url: str, api_key: str
) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        project = await client.create_project("Loyalty")
        asset = await client.create_asset(project.id, "Points", "PTS", 1)
        customer = await client.upsert_customer(project.id, "alice", name="Alice")
        treasury = await client.open_system_wallet(project.id, asset.id, name="treasury")
        wallet = await client.open_wallet(project.id, customer.id, asset.id)
        operations = [
            Issue(to_wallet_id=treasury.id, amount=1000),
            Transfer(from_wallet_id=treasury.id, to_wallet_id=wallet.id, amount=250),
        ]
        done = await client.submit_and_wait(project.id, "order-1", operations)
        assert (done.status, done.operations[1].amount) == ("Completed", 250)
        assert (await client.get_wallet(project.id, wallet.id)).balance == 250

        failed = await client.submit_and_wait(
            project.id, "order-2", [Redeem(from_wallet_id=wallet.id, amount=400)]
        )
        assert failed.status == "Failed" and failed.failure is not None
        assert failed.failure.code == "InsufficientFunds"

        # The same request again is the same transaction; another body is a typed conflict.
        assert (await client.submit_and_wait(project.id, "order-1", operations)).id == done.id
        with pytest.raises(DuplicateReferenceId) as duplicate:
            await client.submit_transaction(
                project.id, "order-1", [Redeem(from_wallet_id=wallet.id, amount=1)]
            )
        assert duplicate.value.request_matches is False
        assert duplicate.value.transaction.id == done.id
        assert duplicate.value.transaction.status == "Completed"

        entries = [entry async for entry in client.iter_entries(project.id, wallet.id, page_size=1)]
        assert [(entry.type, entry.amount, entry.balance_after) for entry in entries] == [
            ("Credit", 250, 250)
        ]
        listed = [tx.id async for tx in client.iter_transactions(project.id, page_size=1)]
        assert listed == [failed.id, done.id]


async def test_holds_reversals_metadata_balances_and_totals(gateway_url: str, api_key: str) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        project = await client.create_project("Shop")
        asset = await client.create_asset(project.id, "Cents", "USD", 100)
        treasury = await client.open_system_wallet(project.id, asset.id)
        await client.upsert_customer(project.id, "bob", metadata={"tier": "gold"})
        wallet = await client.open_wallet(project.id, "bob", asset.id, metadata={"channel": "web"})
        funded = await client.submit_and_wait(
            project.id, "fund", [Issue(to_wallet_id=wallet.id, amount=500)]
        )
        before = datetime.now(UTC)
        held = await client.submit_and_wait(
            project.id,
            "checkout-1",
            [Hold(from_wallet_id=wallet.id, to_wallet_id=treasury.id, amount=200, timeout_s=900)],
        )
        hold_id = held.operations[0].hold_id  # type: ignore[union-attr]
        assert hold_id is not None
        assert (await client.get_wallet(project.id, wallet.id)).available_balance == 300
        captured = await client.submit_and_wait(
            project.id, "ship-1", [Capture(hold_id=hold_id, amount=150)]
        )
        assert captured.status == "Completed"
        hold = await client.get_hold(project.id, hold_id)
        assert (hold.status, hold.captured_amount) == ("Captured", 150)
        holds = [h.id async for h in client.iter_holds(project.id, wallet_id=wallet.id)]
        assert holds == [hold_id]

        reversal = await client.reverse_transaction(project.id, funded.id, "refund-1")
        reversed_ = await client.wait_for_transaction(project.id, reversal.id)
        # 500 - 150 captured leaves 350: the inverse Redeem of 500 cannot apply.
        assert reversed_.failure is not None and reversed_.failure.code == "InsufficientFunds"

        updated = await client.replace_wallet_metadata(project.id, wallet.id, {"channel": "app"})
        assert updated.metadata == {"channel": "app"}
        found = [w.id async for w in client.iter_wallets(project.id, metadata={"channel": "app"})]
        assert found == [wallet.id]
        then = await client.get_wallet_balance(project.id, wallet.id, at=before)
        assert (then.balance, then.held_balance) == (500, 0)
        totals = await client.get_asset_totals(project.id, asset.id)
        assert (totals.issued, totals.redeemed, totals.outstanding) == (500, 0, 500)


async def test_typed_errors_from_real_answers(gateway_url: str, api_key: str) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        project = await client.create_project("Errors")
        with pytest.raises(ValidationFailed) as invalid:
            await client.submit_transaction(project.id, "r", [{"type": "Issue", "to": "w1"}])
        assert invalid.value.fields[0].field == "operations[0].amount"
        assert invalid.value.request_id
        with pytest.raises(NotFound) as missing:
            await client.get_wallet(project.id, "01NOSUCHWALLET")
        assert missing.value.code == "WalletNotFound"
    async with AsyncClient(gateway_url, api_key="not-a-key") as stranger:
        with pytest.raises(Unauthorized):
            await stranger.list_projects()


async def test_keys_and_an_oauth2_client(gateway_url: str, api_key: str) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        project = await client.create_project("Keys")
        expires = datetime.now(UTC) + timedelta(days=1)
        reader = await client.create_key("reader", "read", expires_at=expires)
        oauth = await client.create_key("service", "full", oauth_client=True)
        names = {key.name async for key in client.iter_keys()}
        assert {"reader", "service"} <= names
    async with AsyncClient(gateway_url, api_key=reader.secret) as read_only:
        assert (await read_only.get_project(project.id)).name == "Keys"
        with pytest.raises(Forbidden):
            await read_only.create_project("no")
    async with AsyncClient(gateway_url, client_id=oauth.id, client_secret=oauth.secret) as service:
        assert (await service.create_project("by token")).name == "by token"
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        await client.revoke_key(reader.id)
    async with AsyncClient(gateway_url, api_key=reader.secret) as revoked:
        with pytest.raises(Unauthorized):
            await revoked.get_project(project.id)


def synchronous_walk_through(gateway_url: str, api_key: str) -> None:
    with Client(gateway_url, api_key=api_key) as client:
        project = client.create_project("Sync")
        asset = client.create_asset(project.id, "Points", "PTS", 1)
        treasury = client.open_system_wallet(project.id, asset.id)
        client.upsert_customer(project.id, "carol")
        wallet = client.open_wallet(project.id, "carol", asset.id)
        operations = [
            Issue(to_wallet_id=treasury.id, amount=10),
            Transfer(from_wallet_id=treasury.id, to_wallet_id=wallet.id, amount=4),
        ]
        done = client.submit_and_wait(project.id, "sync-1", operations)
        assert done.status == "Completed"
        with pytest.raises(DuplicateReferenceId) as duplicate:
            client.submit_transaction(project.id, "sync-1", operations)
        assert duplicate.value.request_matches is True
        assert [e.amount for e in client.iter_entries(project.id, wallet.id)] == [4]
        assert client.get_wallet(project.id, wallet.id).balance == 4
        assert client.health().status == "ok"


async def test_the_walk_through_with_the_synchronous_client(gateway_url: str, api_key: str) -> None:
    await asyncio.to_thread(synchronous_walk_through, gateway_url, api_key)


ROOT = Path(__file__).resolve().parents[2]
LOCAL_URL = "http://127.0.0.1:8080"


def walk_through(document: Path) -> tuple[str, list[str]]:
    """The first Python block of `document`, and what its commented prints say they print,
    in order."""
    block = document.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    said = re.findall(r"^[ \t]*print\(.*\)[ \t]+# (.+)$", block, flags=re.MULTILINE)
    return block, said


@pytest.mark.parametrize("document", ["sdk/README.md", "README.md"])
async def test_the_readme_walk_through_runs_as_written(
    gateway_url: str, api_key: str, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    block, said = walk_through(ROOT / document)
    assert len(said) >= 5 and LOCAL_URL in block
    monkeypatch.setenv("CLOUDWALLET_KEY", api_key)  # sdk/README.md's
    monkeypatch.setenv("KEY", api_key)  # README.md's, exported by its walk-through
    printed = io.StringIO()

    def run() -> None:
        with contextlib.redirect_stdout(printed):
            code = compile(block.replace(LOCAL_URL, gateway_url), document, "exec")
            exec(code, {})  # the README's own code

    await asyncio.to_thread(run)
    lines = printed.getvalue().splitlines()
    assert [line for line in lines if line in said] == said, lines


async def test_every_other_route(gateway_url: str, api_key: str) -> None:
    async with AsyncClient(gateway_url, api_key=api_key) as client:
        assert (await client.ready()).status == "ready"
        assert "cloudwallet_" in await client.metrics()
        assert (await client.openapi())["openapi"] == "3.1.0"
        assert "<html" in await client.docs_page()
        project = await client.rename_project((await client.create_project("a")).id, "b")
        assert [p.name async for p in client.iter_projects()] == ["b"]
        asset = await client.create_asset(project.id, "Points", "PTS", 1)
        assert (await client.rename_asset(project.id, asset.id, "P")).name == "P"
        spare = await client.create_asset(project.id, "Spare", "SPR", 1)
        await client.delete_asset(project.id, spare.id)
        assert [a.id for a in (await client.list_assets(project.id)).items] == [asset.id]
        customer = await client.put_customer(project.id, "dan", name="Dan", metadata={"k": "v"})
        assert (await client.get_customer(project.id, "dan")).metadata == {"k": "v"}
        wallet = await client.open_wallet(project.id, customer.id, asset.id)
        other = await client.open_wallet(project.id, customer.id, asset.id)
        assert (await client.suspend_customer(project.id, "dan")).status == "Suspended"
        found = [c.id async for c in client.iter_customers(project.id, status="Suspended")]
        assert found == ["dan"]
        await client.resume_customer(project.id, "dan", [wallet.id])
        statuses = {w.id: w.status async for w in client.iter_customer_wallets(project.id, "dan")}
        assert statuses == {wallet.id: "Open", other.id: "Suspended"}
        await client.replace_customer_metadata(project.id, "dan", {})
        await client.rename_wallet(project.id, wallet.id, "main")
        described = await client.describe_wallet(project.id, wallet.id, "day to day")
        assert (described.name, described.description) == ("main", "day to day")
        treasury = await client.open_system_wallet(project.id, asset.id)
        assert [w.id async for w in client.iter_system_wallets(project.id)] == [treasury.id]
        batch = await client.submit_transaction_batch(
            project.id,
            [
                {"referenceId": "b1", "operations": [Issue(to_wallet_id=treasury.id, amount=3)]},
                {"referenceId": "b2"},
            ],
        )
        assert (batch.accepted, batch.rejected, batch.items[1].status) == (1, 1, 400)
        for wallet_id in (wallet.id, other.id):
            await client.change_wallet_status(project.id, wallet_id, "Closed")
        await client.delete_customer(project.id, "dan")
        with pytest.raises(NotFound):
            await client.get_customer(project.id, "dan")


async def test_webhook_endpoints(gateway_url: str, api_key: str) -> None:
    # tests/support.py's settings allow private addresses (webhook_allow_private), as
    # tests/integration/test_webhooks.py's receivers need too.
    async with receiving() as receiver, AsyncClient(gateway_url, api_key=api_key) as client:
        project = await client.create_project("Hooks")
        created = await client.create_webhook(
            project.id, receiver.url, ["transaction.completed"], description="orders"
        )
        assert created.secret.startswith("whsec_")
        assert (created.url, created.events, created.description) == (
            receiver.url,
            ["transaction.completed"],
            "orders",
        )
        shown = created.model_dump(exclude={"secret"})
        got = await client.get_webhook(project.id, created.id)
        assert got.model_dump() == shown and not hasattr(got, "secret")
        page = await client.list_webhooks(project.id)
        assert [hook.model_dump() for hook in page.items] == [shown]
        assert (page.page, page.has_more) == (1, False)
        assert "secret" not in page.model_dump_json()
        assert [hook.id async for hook in client.iter_webhooks(project.id, page_size=1)] == [
            created.id
        ]
        # No event yet, no attempt; then a completed transaction is delivered, signed with the
        # secret the creation showed, and logged.
        assert (await client.list_webhook_deliveries(project.id, created.id)).items == []
        asset = await client.create_asset(project.id, "Points", "PTS", 1)
        treasury = await client.open_system_wallet(project.id, asset.id)
        done = await client.submit_and_wait(
            project.id, "hook-1", [Issue(to_wallet_id=treasury.id, amount=5)]
        )
        (delivered,) = await receiver.wait_for(lambda received: len(received) >= 1)
        event = verify_webhook(created.secret, delivered.headers, delivered.body)
        assert (event["type"], event["data"]["id"]) == ("transaction.completed", done.id)
        deliveries = await client.list_webhook_deliveries(project.id, created.id)
        for _ in range(100):  # the log is written once the receiver has answered
            if deliveries.items:
                break
            await asyncio.sleep(0.1)
            deliveries = await client.list_webhook_deliveries(project.id, created.id)
        (attempt,) = deliveries.items
        assert (attempt.event_id, attempt.event_type) == (event["id"], "transaction.completed")
        assert (attempt.attempt, attempt.status_code, attempt.error) == (1, 200, None)
        logged = client.iter_webhook_deliveries(project.id, created.id, page_size=1)
        assert [one.event_id async for one in logged] == [event["id"]]

        await client.delete_webhook(project.id, created.id)
        with pytest.raises(NotFound) as gone:
            await client.get_webhook(project.id, created.id)
        assert (gone.value.status, gone.value.code) == (404, "WebhookNotFound")
        with pytest.raises(NotFound):
            await client.delete_webhook(project.id, created.id)
        with pytest.raises(NotFound):
            await client.list_webhook_deliveries(project.id, created.id)
        assert (await client.list_webhooks(project.id)).items == []
        with pytest.raises(ValidationFailed) as refused:
            await client.create_webhook(project.id, "ftp://example.com/hook", ["*"])
        assert [field.field for field in refused.value.fields] == ["url"]


def synchronous_webhooks(gateway_url: str, api_key: str) -> None:
    with Client(gateway_url, api_key=api_key) as client:
        project = client.create_project("Hooks")
        created = client.create_webhook(project.id, "http://127.0.0.1:9/hook", ["*"])
        assert created.secret.startswith("whsec_") and created.events == ["*"]
        assert [hook.id for hook in client.iter_webhooks(project.id)] == [created.id]
        assert client.get_webhook(project.id, created.id).description == ""
        client.list_webhook_deliveries(project.id, created.id)  # empty or not: no event yet
        client.delete_webhook(project.id, created.id)
        with pytest.raises(NotFound):
            client.get_webhook(project.id, created.id)


async def test_webhook_endpoints_with_the_synchronous_client(
    gateway_url: str, api_key: str
) -> None:
    await asyncio.to_thread(synchronous_webhooks, gateway_url, api_key)
