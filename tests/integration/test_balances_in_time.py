"""Balances in time and an asset's totals through HTTP on the real services: a wallet's balance,
held and available balances at instants before and after issues, transfers, holds and their
capture (the instants read from the entries' times), 404 before the wallet existed, bad
instants refused; an asset's issued, redeemed, outstanding, held and wallet count after known
issues, redeems and holds, equal to the sum of its wallets' balances."""

from __future__ import annotations

from typing import Any

from shared.settings import Settings
from tests.integration.test_holds_api import make_hold
from tests.integration.test_search import epoch_ms
from tests.support import (
    Api,
    Ledger,
    capture,
    fetch_rows,
    hold,
    issue,
    new_ledger,
    redeem,
    transfer,
)


async def balance_at(api: Api, project: str, wallet: str, at: int | None) -> tuple[int, int, int]:
    query = "" if at is None else f"?at={at}"
    reply = await api.get(f"/projects/{project}/wallets/{wallet}/balance{query}")
    assert reply.status == 200, reply.body
    body = reply.body
    assert body["walletId"] == wallet
    if at is not None:
        assert epoch_ms(body["at"]) == at
    return int(body["balance"]), int(body["heldBalance"]), int(body["availableBalance"])


async def entry_times(api: Api, project: str, wallet: str) -> list[int]:
    """The instants of the wallet's entries, oldest first, once each (a capture posts two
    entries at its transaction's instant)."""
    reply = await api.get(f"/projects/{project}/wallets/{wallet}/entries?order=asc")
    return sorted({epoch_ms(entry["createdAt"]) for entry in reply.body["items"]})


async def completed(api: Api, project: str, operations: list[dict[str, object]]) -> dict[str, Any]:
    done = await api.run(project, operations)
    assert done["status"] == "Completed", done
    return done


async def test_balances_at_instants_before_and_after_transfers_and_holds(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    alice, bob = await ledger.customer_wallet(), await ledger.customer_wallet()
    opened = epoch_ms((await api.get(f"/projects/{project}/wallets/{alice}")).body["createdAt"])
    before = await api.get(f"/projects/{project}/wallets/{alice}/balance?at={opened - 1}")
    assert (before.status, before.body["error"]["code"]) == (404, "WalletNotFound")
    assert await balance_at(api, project, alice, opened) == (0, 0, 0)

    await completed(api, project, [issue(alice, 1000)])
    await completed(api, project, [transfer(alice, bob, 300)])
    hold_id = await make_hold(api, project, hold(alice, 200, bob))
    await completed(api, project, [capture(hold_id, 50)])
    issued, transferred, held, captured = await entry_times(api, project, alice)
    assert issued < transferred < held < captured

    expected = [
        (issued - 1, (0, 0, 0)),
        (issued, (1000, 0, 1000)),
        (transferred - 1, (1000, 0, 1000)),
        (transferred, (700, 0, 700)),
        (held, (700, 200, 500)),
        (captured - 1, (700, 200, 500)),
        (captured, (650, 0, 650)),
        (captured + 86_400_000, (650, 0, 650)),
    ]
    for at, balances in expected:
        assert await balance_at(api, project, alice, at) == balances, at
    assert await balance_at(api, project, alice, None) == (650, 0, 650)
    bob_times = await entry_times(api, project, bob)
    assert await balance_at(api, project, bob, bob_times[0]) == (300, 0, 300)
    assert await balance_at(api, project, bob, bob_times[-1]) == (350, 0, 350)
    assert await balance_at(api, project, bob, held) == (300, 0, 300)


async def test_bad_instants_and_other_wallets_are_refused(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.customer_wallet()
    path = f"/projects/{project}/wallets/{wallet}/balance"
    for query, field in (
        ("at=abc", "at"),
        ("at=-1", "at"),
        ("at=1.5", "at"),
        ("at=1e3", "at"),
        ("at=", "at"),
        ("at=253402300800000", "at"),
        ("at=1&at=2", "at"),
        ("when=1", "when"),
    ):
        reply = await api.get(f"{path}?{query}")
        assert reply.status == 400, (query, reply.body)
        fields = [item["field"] for item in reply.body["error"]["details"]["fields"]]
        assert (reply.body["error"]["code"], fields) == ("ValidationError", [field]), query
    elsewhere = await new_ledger(api)
    other = await api.get(f"/projects/{elsewhere.project_id}/wallets/{wallet}/balance")
    assert (other.status, other.body["error"]["code"]) == (404, "WalletNotFound")
    missing = await api.get(f"/projects/{project}/wallets/01NOSUCHWALLET000000000000/balance?at=1")
    assert (missing.status, missing.body["error"]["code"]) == (404, "WalletNotFound")


async def totals(api: Api, project: str, asset: str) -> dict[str, Any]:
    reply = await api.get(f"/projects/{project}/assets/{asset}/totals")
    assert reply.status == 200, reply.body
    return dict(reply.body)


async def test_totals_after_known_issues_redeems_and_holds(ledger: Ledger) -> None:
    api, project, asset = ledger.api, ledger.project_id, ledger.asset_id
    assert await totals(api, project, asset) == {
        "assetId": asset,
        "issued": "0",
        "redeemed": "0",
        "outstanding": "0",
        "held": "0",
        "walletCount": 0,
    }
    treasury = await ledger.system_wallet()
    alice, bob = await ledger.customer_wallet(), await ledger.customer_wallet()
    euro = await api.created(
        f"/projects/{project}/assets", {"name": "Euro", "code": "EUR", "fractions": 100}
    )
    await ledger.system_wallet(euro["id"])
    await completed(api, project, [issue(treasury, 1000), transfer(treasury, alice, 400)])
    await completed(api, project, [redeem(alice, 100), transfer(alice, bob, 50)])
    hold_id = await make_hold(api, project, hold(alice, 80))
    await make_hold(api, project, hold(bob, 30, alice))
    failed = await api.run(project, [redeem(bob, 1000)])
    assert failed["status"] == "Failed"
    assert await totals(api, project, asset) == {
        "assetId": asset,
        "issued": "1000",
        "redeemed": "100",
        "outstanding": "900",
        "held": "110",
        "walletCount": 3,
    }
    await completed(api, project, [capture(hold_id, 20)])
    after = await totals(api, project, asset)
    assert (after["redeemed"], after["outstanding"], after["held"]) == ("120", "880", "30")
    wallets = await api.get(f"/projects/{project}/wallets?assetId={asset}")
    balances = [int(wallet["balance"]) for wallet in wallets.body["items"]]
    held = [int(wallet["heldBalance"]) for wallet in wallets.body["items"]]
    assert (sum(balances), sum(held)) == (880, 30)
    euro_totals = await totals(api, project, euro["id"])
    assert (euro_totals["issued"], euro_totals["walletCount"]) == ("0", 1)
    await ledger.customer_wallet()
    assert (await totals(api, project, asset))["walletCount"] == 4


async def test_totals_of_missing_foreign_and_deleted_assets_are_404(
    ledger: Ledger, migrated: Settings
) -> None:
    api = ledger.api
    spare = await api.created(
        f"/projects/{ledger.project_id}/assets", {"name": "Spare", "code": "SPR", "fractions": 1}
    )
    assert (await totals(api, ledger.project_id, spare["id"]))["walletCount"] == 0
    # An asset made before migration 0006 has a row of zeros from its back-fill.
    await fetch_rows(
        migrated,
        "INSERT INTO asset_totals (asset_id, project_id) VALUES ($1, $2) RETURNING asset_id",
        spare["id"],
        ledger.project_id,
    )
    assert (await api.delete(f"/projects/{ledger.project_id}/assets/{spare['id']}")).status == 204
    gone = await api.get(f"/projects/{ledger.project_id}/assets/{spare['id']}/totals")
    assert (gone.status, gone.body["error"]["code"]) == (404, "AssetNotFound")
    rows = await fetch_rows(migrated, "SELECT 1 FROM asset_totals WHERE asset_id = $1", spare["id"])
    assert rows == []
    elsewhere = await new_ledger(api)
    for project, asset in (
        (ledger.project_id, "01NOSUCHASSET0000000000000"),
        (elsewhere.project_id, ledger.asset_id),
    ):
        reply = await api.get(f"/projects/{project}/assets/{asset}/totals")
        assert (reply.status, reply.body["error"]["code"]) == (404, "AssetNotFound")


def test_epoch_ms_reads_the_times_responses_show() -> None:
    assert epoch_ms("1970-01-01T00:00:01.042Z") == 1042
    assert epoch_ms("2025-01-31T12:00:00.123Z") == 1738324800123
