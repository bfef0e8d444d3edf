"""The list of a project's transactions through HTTP: applied ones only (Completed and
Failed), newest first or oldest first, pages, the time window and the cursor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tests.integration.test_entries import epoch_ms
from tests.support import Ledger, issue, redeem, transfer


async def listed(ledger: Ledger, query: str = "") -> dict[str, Any]:
    reply = await ledger.api.get(f"/projects/{ledger.project_id}/transactions{query}")
    assert reply.status == 200, reply.body
    return dict(reply.body)


async def test_list_newest_first_with_failed_ones(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    treasury, wallet = await ledger.system_wallet(), await ledger.customer_wallet()
    done = [
        await api.run(project, [issue(treasury, 50)]),
        await api.run(project, [redeem(wallet, 1)]),
        await api.run(project, [transfer(treasury, wallet, 5)]),
    ]
    body = await listed(ledger)
    assert body["items"] == done[::-1]
    assert [item["status"] for item in body["items"]] == ["Completed", "Failed", "Completed"]
    assert (body["page"], body["pageSize"], body["hasMore"], body["nextCursor"]) == (
        1,
        50,
        False,
        None,
    )
    assert (await listed(ledger, "?order=asc"))["items"] == done
    other = await api.created("/projects", {"name": "empty"})
    assert (await api.get(f"/projects/{other['id']}/transactions")).body["items"] == []


async def test_pages_cursor_and_window(ledger: Ledger) -> None:
    api, project = ledger.api, ledger.project_id
    wallet = await ledger.system_wallet()
    accepted = [await api.submit(project, [issue(wallet, amount)]) for amount in range(1, 8)]
    finals = [await api.final(project, item["id"]) for item in accepted]
    for order, expected in (("desc", finals[::-1]), ("asc", finals)):
        walk, query = [], f"?order={order}&pageSize=2"
        for _ in range(10):
            body = await listed(ledger, query)
            walk += body["items"]
            if body["nextCursor"] is None:
                break
            query = f"?order={order}&pageSize=2&cursor={body['nextCursor']}"
        assert walk == expected
        third_page = await listed(ledger, f"?order={order}&pageSize=2&page=3")
        assert third_page["items"] == expected[4:6]
    created = [item["createdAt"] for item in finals]
    assert created == sorted(created)
    moments = [epoch_ms(datetime.fromisoformat(moment)) for moment in created]
    window = await listed(ledger, f"?from={moments[2]}&to={moments[4]}&order=asc")
    inside = [
        item
        for item, moment in zip(finals, moments, strict=True)
        if moments[2] <= moment < moments[4]
    ]
    assert window["items"] == inside and finals[2] in inside and finals[4] not in inside


async def test_bad_list_queries_are_400(ledger: Ledger) -> None:
    base = f"/projects/{ledger.project_id}/transactions"
    for query in ("order=x", "from=a", "to=-1", "cursor=ZS4x", "cursor=dC4x", "page=2&cursor=ab"):
        reply = await ledger.api.get(f"{base}?{query}")
        assert (reply.status, reply.body["error"]["code"]) == (400, "ValidationError"), query
