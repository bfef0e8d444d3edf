"""The Python SDK's retries, errors and pages, against scripted answers (httpx.MockTransport):
a submission is tried again after a 429, a 503 or a lost answer with the same body (so the same
reference ID), waiting at least Retry-After, and a repeat that finds its own first attempt
applied answers that transaction; what is unsafe to repeat is not repeated; errors are typed;
lists are walked by cursor or page number. Each case runs on the synchronous and the
asynchronous client."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from cloudwallet_client import (
    AsyncClient,
    Client,
    DuplicateReferenceId,
    Issue,
    NotFound,
    RetryPolicy,
    ServiceUnavailable,
    TooManyRequests,
    TransactionTimeout,
    TransportError,
    ValidationFailed,
)

PROJECT = "p1"
TRANSACTION = {
    "id": "t1",
    "referenceId": "order-1",
    "status": "Completed",
    "operations": [{"type": "Issue", "to": "w1", "amount": "5"}],
    "metadata": {},
    "createdAt": "2025-01-31T12:00:00.000Z",
    "completedAt": "2025-01-31T12:00:00.042Z",
}
ACCEPTED = {"id": "t1", "referenceId": "order-1", "status": "Pending"}
FAST = RetryPolicy(attempts_max=4, backoff_first_s=0.001, backoff_max_s=0.002)


def error(status: int, code: str, details: Any = None, retry_after: str | None = None) -> Any:
    body: dict[str, Any] = {"error": {"code": code, "message": code}}
    if details is not None:
        body["error"]["details"] = details
    headers = {"Retry-After": retry_after} if retry_after else {}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """Answers in order, and every request seen (with its JSON body)."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self) -> list[Any]:
        return [json.loads(request.content) for request in self.requests]


class Runner:
    """One client, synchronous or asynchronous, on a script; `call` runs a method of either
    and gives its result, `sleeps` the waits the client made."""

    def __init__(self, kind: str, script: Script, retry: RetryPolicy = FAST) -> None:
        self.kind = kind
        self.sleeps: list[float] = []
        if kind == "sync":
            self.client: Client | AsyncClient = Client(
                "http://test", "key", retry=retry, transport=httpx.MockTransport(script)
            )
            self.client._transport.sleep = self.sleeps.append  # type: ignore[assignment]
        else:
            self.client = AsyncClient(
                "http://test", "key", retry=retry, transport=httpx.MockTransport(script)
            )

            async def sleep(delay_s: float) -> None:
                self.sleeps.append(delay_s)

            self.client._transport.sleep = sleep  # type: ignore[assignment]

    async def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        result = getattr(self.client, name)(*args, **kwargs)
        return result if self.kind == "sync" else await result

    async def collect(self, name: str, *args: Any, **kwargs: Any) -> list[Any]:
        items = getattr(self.client, name)(*args, **kwargs)
        if self.kind == "sync":
            return list(items)
        return [item async for item in items]


@pytest.fixture(params=["sync", "async"])
def runner(request: pytest.FixtureRequest) -> Iterator[Callable[..., Runner]]:
    yield lambda script, retry=FAST: Runner(request.param, script, retry)


ISSUE = [Issue(to_wallet_id="w1", amount=5)]


async def test_a_submission_is_tried_again_with_the_same_body_after_429_and_503(
    runner: Callable[..., Runner],
) -> None:
    script = Script(
        error(429, "RateLimited", retry_after="2"),
        error(503, "QueueFull", retry_after="1"),
        httpx.Response(202, json=ACCEPTED),
    )
    run = runner(script)
    accepted = await run.call("submit_transaction", PROJECT, "order-1", ISSUE)
    assert (accepted.id, accepted.status) == ("t1", "Pending")
    sent = {"referenceId": "order-1", "operations": [{"type": "Issue", "to": "w1", "amount": "5"}]}
    assert script.bodies() == [sent, sent, sent]
    assert run.sleeps[0] >= 2 and run.sleeps[1] >= 1  # at least Retry-After


async def test_a_lost_answer_then_a_matching_duplicate_is_the_same_submission(
    runner: Callable[..., Runner],
) -> None:
    duplicate = {"requestMatches": True, "transaction": TRANSACTION}
    script = Script(httpx.ReadTimeout("lost"), error(409, "DuplicateReferenceId", duplicate))
    accepted = await runner(script).call("submit_transaction", PROJECT, "order-1", ISSUE)
    assert (accepted.id, accepted.reference_id, accepted.status) == ("t1", "order-1", "Completed")
    assert len(script.requests) == 2


async def test_a_duplicate_on_the_first_attempt_is_a_typed_error(
    runner: Callable[..., Runner],
) -> None:
    duplicate = {"requestMatches": False, "transaction": TRANSACTION}
    script = Script(error(409, "DuplicateReferenceId", duplicate))
    with pytest.raises(DuplicateReferenceId) as raised:
        await runner(script).call("submit_transaction", PROJECT, "order-1", ISSUE)
    assert raised.value.request_matches is False
    assert raised.value.transaction.id == "t1"
    assert raised.value.transaction.operations[0] == Issue(to_wallet_id="w1", amount=5)
    assert (raised.value.status, raised.value.code) == (409, "DuplicateReferenceId")


async def test_what_is_unsafe_to_repeat_is_not_repeated(runner: Callable[..., Runner]) -> None:
    # A new project after a 503 or a lost answer may exist already: not sent again...
    script = Script(error(503, "ServiceUnavailable"))
    with pytest.raises(ServiceUnavailable):
        await runner(script).call("create_project", "Loyalty")
    script = Script(httpx.ReadTimeout("lost"))
    with pytest.raises(TransportError):
        await runner(script).call("create_project", "Loyalty")
    # ...but a 429 (refused before anything was done), or a connection never made, is.
    project = {"id": "p1", "name": "Loyalty", "assets": [], "createdAt": "2025-01-31T12:00:00Z"}
    script = Script(
        error(429, "RateLimited"), httpx.ConnectError("refused"), httpx.Response(201, json=project)
    )
    assert (await runner(script).call("create_project", "Loyalty")).id == "p1"
    assert len(script.requests) == 3


async def test_retries_are_bounded_and_a_long_retry_after_is_not_waited(
    runner: Callable[..., Runner],
) -> None:
    script = Script(*[error(503, "QueueFull") for _ in range(4)])
    with pytest.raises(ServiceUnavailable) as raised:
        await runner(script).call("get_transaction", PROJECT, "t1")
    assert (len(script.requests), raised.value.attempts) == (4, 4)
    script = Script(error(429, "RateLimited", retry_after="3600"))
    run = runner(script)
    with pytest.raises(TooManyRequests) as limited:
        await run.call("get_transaction", PROJECT, "t1")
    assert (limited.value.retry_after_s, run.sleeps) == (3600, [])


async def test_errors_are_typed_by_status_with_their_details(
    runner: Callable[..., Runner],
) -> None:
    fields = [{"field": "operations[0].amount", "message": "must be a string of digits"}]
    script = Script(error(400, "ValidationError", {"fields": fields}), error(404, "WalletNotFound"))
    run = runner(script)
    with pytest.raises(ValidationFailed) as invalid:
        await run.call("submit_transaction", PROJECT, "r", [{"type": "Issue", "to": "w1"}])
    assert invalid.value.fields[0].field == "operations[0].amount"
    with pytest.raises(NotFound) as missing:
        await run.call("get_wallet", PROJECT, "w9")
    assert missing.value.code == "WalletNotFound"


async def test_submit_and_wait_polls_until_final_and_gives_up_in_time(
    runner: Callable[..., Runner],
) -> None:
    pending = TRANSACTION | {"status": "Pending", "completedAt": None}
    script = Script(
        httpx.Response(202, json=ACCEPTED),
        httpx.Response(200, json=pending),
        httpx.Response(200, json=pending),
        httpx.Response(200, json=TRANSACTION),
    )
    run = runner(script)
    final = await run.call("submit_and_wait", PROJECT, "order-1", ISSUE)
    assert final.status == "Completed" and final.operations[0].amount == 5
    assert run.sleeps == sorted(run.sleeps) and len(run.sleeps) == 2  # growing pauses
    # Pending past the deadline: TransactionTimeout with its last state.
    script = Script(httpx.Response(200, json=pending))
    with pytest.raises(TransactionTimeout) as late:
        await runner(script).call("wait_for_transaction", PROJECT, "t1", timeout_s=0)
    assert late.value.transaction.status == "Pending"


async def test_submit_and_wait_again_with_the_same_body_returns_the_same_transaction(
    runner: Callable[..., Runner],
) -> None:
    duplicate = {"requestMatches": True, "transaction": TRANSACTION}
    script = Script(
        error(409, "DuplicateReferenceId", duplicate), httpx.Response(200, json=TRANSACTION)
    )
    final = await runner(script).call("submit_and_wait", PROJECT, "order-1", ISSUE)
    assert final.id == "t1"
    assert script.requests[1].url.path == "/projects/p1/transactions/t1"


async def test_lists_are_walked_by_cursor_or_by_page(runner: Callable[..., Runner]) -> None:
    first = {"items": [TRANSACTION], "page": 1, "pageSize": 1, "hasMore": True, "nextCursor": "c2"}
    last = first | {"hasMore": False, "nextCursor": None}
    script = Script(httpx.Response(200, json=first), httpx.Response(200, json=last))
    items = await runner(script).collect(
        "iter_transactions", PROJECT, status="Completed", metadata={"k": "v"}, page_size=1
    )
    assert [item.id for item in items] == ["t1", "t1"]
    queries = [dict(request.url.params) for request in script.requests]
    assert queries[0] == {"status": "Completed", "metadata[k]": "v", "pageSize": "1", "page": "1"}
    assert queries[1]["cursor"] == "c2" and "page" not in queries[1]
    asset = {"id": "a", "name": "P", "code": "P", "fractions": 1, "createdAt": "2025-01-31T12:00Z"}
    page_one = {"items": [asset], "page": 1, "pageSize": 1, "hasMore": True}
    page_two = page_one | {"page": 2, "hasMore": False}
    script = Script(httpx.Response(200, json=page_one), httpx.Response(200, json=page_two))
    assert len(await runner(script).collect("iter_assets", PROJECT)) == 2
    assert [request.url.params["page"] for request in script.requests] == ["1", "2"]


async def test_ids_are_percent_encoded_in_paths(runner: Callable[..., Runner]) -> None:
    customer = {
        "id": "a/b c",
        "name": "",
        "description": "",
        "status": "Active",
        "metadata": {},
        "createdAt": "2025-01-31T12:00:00.000Z",
        "updatedAt": "2025-01-31T12:00:00.000Z",
    }
    script = Script(httpx.Response(200, json=customer))
    assert (await runner(script).call("get_customer", PROJECT, "a/b c")).id == "a/b c"
    assert script.requests[0].url.raw_path == b"/projects/p1/customers/a%2Fb%20c"
    assert script.requests[0].headers["Authorization"] == "Bearer key"


async def test_an_oauth2_client_fetches_its_token_and_renews_it_after_a_401(
    runner: Callable[..., Runner],
) -> None:
    def token(value: str) -> httpx.Response:
        body = {"access_token": value, "token_type": "Bearer", "expires_in": 3600, "scope": "full"}
        return httpx.Response(200, json=body)

    project = {"id": "p1", "name": "x", "assets": [], "createdAt": "2025-01-31T12:00:00Z"}
    script = Script(
        token("first"),
        error(401, "Unauthorized"),  # revoked or expired early
        token("second"),
        httpx.Response(200, json=project),
        httpx.Response(200, json=project),
    )
    run = runner(script)
    credentials = {"client_id": "k1", "client_secret": "s1", "retry": FAST}
    transport = httpx.MockTransport(script)
    if run.kind == "sync":
        run.client = Client("http://test", transport=transport, **credentials)
    else:
        run.client = AsyncClient("http://test", transport=transport, **credentials)
    assert (await run.call("get_project", "p1")).id == "p1"
    assert (await run.call("get_project", "p1")).id == "p1"  # the token is kept
    sent = [(r.url.path, r.headers.get("Authorization", "")) for r in script.requests]
    assert [path for path, _ in sent] == ["/oauth/token", "/projects/p1"] * 2 + ["/projects/p1"]
    assert sent[0][1].startswith("Basic ") and sent[1][1] == "Bearer first"
    assert sent[3][1] == sent[4][1] == "Bearer second"
    assert script.requests[0].content == b"grant_type=client_credentials"


def test_credentials_name_one_way_to_authenticate() -> None:
    with pytest.raises(ValueError, match="not both"):
        Client("http://test", "key", client_id="k1", client_secret="s1")
    with pytest.raises(ValueError, match="both client_id and client_secret"):
        AsyncClient("http://test", client_id="k1")
