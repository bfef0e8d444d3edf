"""The synchronous client. Generated into `_sync/client.py` by `sdk/tools/unasync.py`: edit
this one.

    with Client("http://127.0.0.1:8080", api_key=key) as client:
        project = client.create_project("Loyalty")
"""

from __future__ import annotations

from types import TracebackType

import httpx

from cloudwallet_client._sync.customers import Customers
from cloudwallet_client._sync.ledger import Ledger
from cloudwallet_client._sync.resources import Resources
from cloudwallet_client._sync.transport import Transport, check_credentials
from cloudwallet_client._sync.wallets import Wallets
from cloudwallet_client._sync.webhooks import Webhooks
from cloudwallet_client.retries import RetryPolicy

DEFAULT_BASE_URL = "http://127.0.0.1:8080"
# Each attempt of a request: connecting, and waiting for the answer.
TIMEOUT_S = 10.0


class Client(Resources, Customers, Wallets, Ledger, Webhooks):
    """The cloudwallet HTTP API. Authenticate with an API key (`api_key`), or as an OAuth2
    client (`client_id` and `client_secret`: the client fetches and renews its access tokens).
    `retry` says how often and how long a request is tried again (cloudwallet_client.retries);
    `transport` replaces httpx's (a test's httpx.MockTransport, say)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        timeout_s: float = TIMEOUT_S,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        check_credentials(api_key, client_id, client_secret)
        http = httpx.Client(
            base_url=base_url, timeout=timeout_s, headers=headers, transport=transport
        )
        self._transport = Transport(http, retry or RetryPolicy(), api_key, client_id, client_secret)

    def close(self) -> None:
        """Close the connections."""
        self._transport.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
