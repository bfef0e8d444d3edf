"""Suspending and resuming customers: the customer and all their Open wallets suspend at
once, a resume reopens only the wallets listed, a bad list changes nothing, and suspended
customers and wallets are refused where the design says so."""

from __future__ import annotations

from tests.support import Ledger, issue, transfer


async def statuses(ledger: Ledger, wallet_ids: list[str]) -> list[str]:
    base = f"/projects/{ledger.project_id}/wallets"
    return [
        (await ledger.api.get(f"{base}/{wallet_id}")).body["status"] for wallet_id in wallet_ids
    ]


async def test_suspend_takes_the_customer_and_every_open_wallet(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    open_one, open_two, closed = [await ledger.customer_wallet("hana") for _ in range(3)]
    other = await ledger.customer_wallet("ivan")
    await api.put(f"{base}/wallets/{closed}/status", {"status": "Closed"})
    suspended = await api.put(f"{base}/customers/hana/suspend")
    assert (suspended.status, suspended.body["status"]) == (200, "Suspended")
    assert await statuses(ledger, [open_one, open_two, closed, other]) == [
        "Suspended",
        "Suspended",
        "Closed",
        "Open",
    ]
    again = await api.put(f"{base}/customers/hana/suspend")
    assert (again.status, again.body["status"]) == (200, "Suspended")
    refused = await api.post(f"{base}/wallets", {"customerId": "hana", "assetId": ledger.asset_id})
    assert (refused.status, refused.body["error"]["code"]) == (409, "CustomerSuspended")
    reopen = await api.put(f"{base}/wallets/{open_one}/status", {"status": "Open"})
    assert (reopen.status, reopen.body["error"]["code"]) == (409, "CustomerSuspended")
    close = await api.put(f"{base}/wallets/{open_one}/status", {"status": "Closed"})
    assert (close.status, close.body["status"]) == (200, "Closed")


async def test_resume_reopens_only_the_listed_wallets(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    first, second, third = [await ledger.customer_wallet("jade") for _ in range(3)]
    await api.put(f"{base}/customers/jade/suspend")
    resumed = await api.put(f"{base}/customers/jade/resume", {"walletIds": [second, second]})
    assert (resumed.status, resumed.body["status"]) == (200, "Active")
    assert await statuses(ledger, [first, second, third]) == ["Suspended", "Open", "Suspended"]
    no_body = await api.put(f"{base}/customers/jade/resume")
    assert (no_body.status, no_body.body["status"]) == (200, "Active")
    assert await statuses(ledger, [first, second, third]) == ["Suspended", "Open", "Suspended"]
    opened = await api.put(f"{base}/wallets/{first}/status", {"status": "Open"})
    assert opened.status == 200
    listed_open = await api.put(f"{base}/customers/jade/resume", {"walletIds": [first]})
    assert listed_open.status == 200
    assert await statuses(ledger, [first]) == ["Open"]


async def test_a_bad_wallet_list_fails_the_whole_resume(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    mine, closed = await ledger.customer_wallet("kim"), await ledger.customer_wallet("kim")
    theirs = await ledger.customer_wallet("lee")
    system = await ledger.system_wallet()
    await api.put(f"{base}/wallets/{closed}/status", {"status": "Closed"})
    await api.put(f"{base}/customers/kim/suspend")
    for wallet_ids, status, code in (
        ([mine, theirs], 404, "WalletNotFound"),
        ([mine, system], 404, "WalletNotFound"),
        ([mine, "01NOSUCHWALLET000000000000"], 404, "WalletNotFound"),
        ([mine, closed], 409, "InvalidStatusTransition"),
    ):
        reply = await api.put(f"{base}/customers/kim/resume", {"walletIds": wallet_ids})
        assert (reply.status, reply.body["error"]["code"]) == (status, code), wallet_ids
        assert reply.body["error"]["details"]["walletIds"] == [wallet_ids[1]]
        assert (await api.get(f"{base}/customers/kim")).body["status"] == "Suspended"
        assert await statuses(ledger, [mine, closed, theirs]) == ["Suspended", "Closed", "Open"]
    for body in ({"walletIds": "x"}, {"walletIds": [1]}, {"walletIds": ["a b"]}, {"x": 1}):
        assert (await api.put(f"{base}/customers/kim/resume", body)).status == 400, body
    too_many = {"walletIds": [f"w{index}" for index in range(501)]}
    assert (await api.put(f"{base}/customers/kim/resume", too_many)).status == 400


async def test_suspended_wallets_take_no_part_in_later_transactions(ledger: Ledger) -> None:
    api, base = ledger.api, f"/projects/{ledger.project_id}"
    treasury, wallet = await ledger.system_wallet(), await ledger.customer_wallet("max")
    await api.run(ledger.project_id, [issue(treasury, 100), transfer(treasury, wallet, 10)])
    await api.put(f"{base}/customers/max/suspend")
    for operations in ([transfer(treasury, wallet, 1)], [transfer(wallet, treasury, 1)]):
        failed = await api.run(ledger.project_id, operations)
        assert (failed["status"], failed["failure"]["code"]) == ("Failed", "WalletNotOpen")
    await api.put(f"{base}/customers/max/resume", {"walletIds": [wallet]})
    done = await api.run(ledger.project_id, [transfer(wallet, treasury, 10)])
    assert done["status"] == "Completed"
    assert await api.balance(ledger.project_id, wallet) == 0
