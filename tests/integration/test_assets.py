"""Assets through HTTP: rename and delete under /assets and /currencies, delete refused with
409 AssetInUse while any wallet of the asset exists, and a delete racing wallet openings
never leaves a wallet of a deleted asset."""

from __future__ import annotations

import asyncio

from shared.settings import Settings
from tests.support import Ledger, fetch_rows


async def test_rename_under_both_paths(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    renamed = await api.put(f"{base}/assets/{ledger.asset_id}/name", {"name": "Stars"})
    assert (renamed.status, renamed.body["name"], renamed.body["code"]) == (200, "Stars", "PTS")
    again = await api.put(f"{base}/currencies/{ledger.asset_id}/name", {"name": "Coins"})
    assert again.status == 200 and again.body["name"] == "Coins"
    assert (await api.get(f"{base}/assets/{ledger.asset_id}")).body == again.body
    assert (await api.get(base)).body["assets"] == [again.body]
    for body in ({}, {"name": ""}, {"name": "x" * 201}, {"name": "a\nb"}, {"name": 1}):
        reply = await api.put(f"{base}/assets/{ledger.asset_id}/name", body)
        assert reply.status == 400, body
    missing = await api.put(f"{base}/currencies/nope/name", {"name": "x"})
    assert (missing.status, missing.body["error"]["code"]) == (404, "AssetNotFound")
    assert (await api.get(f"{base}/assets/{ledger.asset_id}")).body["name"] == "Coins"


async def test_delete_an_unused_asset_then_its_code_is_free(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    deleted = await api.delete(f"{base}/assets/{ledger.asset_id}")
    assert deleted.status == 204 and deleted.body is None
    for path in (f"{base}/assets/{ledger.asset_id}", f"{base}/currencies/{ledger.asset_id}"):
        gone = await api.get(path)
        assert (gone.status, gone.body["error"]["code"]) == (404, "AssetNotFound")
        again = await api.delete(path)
        assert (again.status, again.body["error"]["code"]) == (404, "AssetNotFound")
    assert (await api.get(base)).body["assets"] == []
    reused = await api.post(f"{base}/assets", {"name": "Points", "code": "PTS", "fractions": 1})
    assert reused.status == 201
    by_currency = await api.delete(f"{base}/currencies/{reused.body['id']}")
    assert by_currency.status == 204


async def test_an_asset_with_a_wallet_is_in_use_even_when_the_wallet_is_closed(
    ledger: Ledger,
) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    wallet = await ledger.system_wallet()
    for path in (f"{base}/assets/{ledger.asset_id}", f"{base}/currencies/{ledger.asset_id}"):
        refused = await api.delete(path)
        assert refused.status == 409
        assert refused.body["error"]["code"] == "AssetInUse"
        assert refused.body["error"]["details"] == {"walletCount": 1}
    closed = await api.put(f"{base}/wallets/{wallet}/status", {"status": "Closed"})
    assert closed.status == 200
    still = await api.delete(f"{base}/assets/{ledger.asset_id}")
    assert (still.status, still.body["error"]["code"]) == (409, "AssetInUse")
    assert (await api.get(f"{base}/assets/{ledger.asset_id}")).status == 200


async def test_delete_racing_wallet_openings_leaves_no_orphan(
    ledger: Ledger, migrated: Settings
) -> None:
    """Many openings and one delete at once: either the delete wins and every opening after
    it is a 404, or a wallet exists and the delete is a 409; never both."""
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    for round_number in range(5):
        asset = await api.created(
            f"{base}/assets", {"name": "Race", "code": f"RACE{round_number}", "fractions": 1}
        )
        openings = [api.post(f"{base}/system-wallets", {"assetId": asset["id"]}) for _ in range(6)]
        replies = await asyncio.gather(
            *openings[:3], api.delete(f"{base}/assets/{asset['id']}"), *openings[3:]
        )
        deleted = replies[3]
        opened = [reply for reply in replies if reply.status == 201]
        wallets = await fetch_rows(
            migrated, "SELECT id FROM wallets WHERE asset_id = $1", asset["id"]
        )
        assert len(wallets) == len(opened)
        if deleted.status == 204:
            assert opened == []
            assert all(
                reply.body["error"]["code"] == "AssetNotFound"
                for reply in replies
                if reply is not deleted
            )
        else:
            assert (deleted.status, deleted.body["error"]["code"]) == (409, "AssetInUse")
            assert opened


async def test_asset_codes_are_per_project(ledger: Ledger) -> None:
    api = ledger.api
    other = await api.created("/projects", {"name": "other"})
    same_code = await api.post(
        f"/projects/{other['id']}/assets", {"name": "Points", "code": "PTS", "fractions": 100}
    )
    assert same_code.status == 201
