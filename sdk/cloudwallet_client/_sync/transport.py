"""The HTTP plumbing of the synchronous client: authentication (an API key, or an OAuth2
client's access tokens, fetched and renewed as needed), retries by the retry policy, errors
turned into the client's own, and lists walked page by page.

The synchronous client's copy, `cloudwallet_client/_sync/transport.py`, is generated from this
file by `sdk/tools/unasync.py` from `_async/`."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from cloudwallet_client.errors import (
    ApiError,
    CloudwalletError,
    OAuthError,
    TransportError,
    error_from,
    retry_after_s,
)
from cloudwallet_client.models import AccessToken, Page
from cloudwallet_client.retries import RetryPolicy, retry_error, retry_status

Item = TypeVar("Item", bound=BaseModel)
# An access token is renewed once it has less than this left to live.
TOKEN_RENEW_BEFORE_S = 30.0
# The most pages one walk of a list reads (500 items a page at most: 50 million items).
PAGES_MAX = 100_000


def path(template: str, *ids: str) -> str:
    """`template` with each `{}` replaced by an id, percent-encoded (a customer id is the
    caller's own and may hold any character but a control one)."""
    return template.format(*(quote(value, safe="") for value in ids))


def check_credentials(
    api_key: str | None, client_id: str | None, client_secret: str | None
) -> None:
    """Refuse credentials that name no single way to authenticate (none at all is allowed:
    the public routes need none)."""
    if api_key is not None and client_id is not None:
        raise ValueError("give api_key, or client_id and client_secret, not both")
    if (client_id is None) != (client_secret is None):
        raise ValueError("an OAuth2 client needs both client_id and client_secret")


class Transport:
    """Sends requests for one client: one httpx connection pool, one way to authenticate."""

    def __init__(
        self,
        http: httpx.Client,
        retry: RetryPolicy,
        api_key: str | None,
        client_id: str | None,
        client_secret: str | None,
    ) -> None:
        check_credentials(api_key, client_id, client_secret)
        self.http = http
        self.retry = retry
        self._api_key = api_key
        self._client_id = client_id
        self._client_secret = client_secret
        self._token: AccessToken | None = None
        self._token_expires_s = 0.0
        self._token_lock = threading.Lock()
        self.sleep = time.sleep

    def request(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        """Send the request, trying again as the retry policy says; the answer if it is a
        success, else the ApiError it stands for (with `attempts`, how many were made)."""
        renewed = False
        for attempt in range(1, self.retry.attempts_max + 1):
            try:
                response = self.http.request(
                    method, url, json=json, params=params, headers=self._authorization()
                )
            except httpx.HTTPError as error:
                delay_s = self.retry.delay_s(attempt) if retry_error(error, idempotent) else None
                if delay_s is None:
                    raise TransportError(f"{method} {url}: {error!r}") from error
                self.sleep(delay_s)
                continue
            if response.status_code < 400:
                return response
            if response.status_code == 401 and self._client_id is not None and not renewed:
                renewed = True  # the token may have been revoked or have expired early
                self._token = None
                continue
            error_answer = error_from(response)
            error_answer.attempts = attempt
            delay_s = None
            if retry_status(response.status_code, idempotent):
                delay_s = self.retry.delay_s(attempt, retry_after_s(response))
            if delay_s is None:
                raise error_answer
            self.sleep(delay_s)
        raise CloudwalletError(f"{method} {url}: no attempt left")  # attempts_max >= 1

    def model(
        self,
        model: type[Item],
        method: str,
        url: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Item:
        """`request`, its answer read as `model`."""
        response = self.request(method, url, idempotent=idempotent, json=json, params=params)
        return model.model_validate_json(response.content)

    def items(
        self, page_model: type[Page[Item]], url: str, params: Mapping[str, Any]
    ) -> Iterator[Item]:
        """Every item of a list from its first page on: by cursor where the list gives one,
        else by page number."""
        page, cursor = 1, None
        for _ in range(PAGES_MAX):
            query = dict(params) | ({"cursor": cursor} if cursor else {"page": page})
            result = self.model(page_model, "GET", url, idempotent=True, params=query)
            yield from result.items
            if not result.has_more:
                return
            page, cursor = page + 1, result.next_cursor
        raise CloudwalletError(f"GET {url}: more than {PAGES_MAX} pages")

    def issue_token(self, client_id: str, client_secret: str) -> AccessToken:
        """An access token for an OAuth2 client (client credentials, HTTP Basic)."""
        for attempt in range(1, self.retry.attempts_max + 1):
            try:
                response = self.http.post(
                    "/oauth/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client_id, client_secret),
                )
            except httpx.HTTPError as error:
                delay_s = self.retry.delay_s(attempt) if retry_error(error, True) else None
                if delay_s is None:
                    raise TransportError(f"POST /oauth/token: {error!r}") from error
                self.sleep(delay_s)
                continue
            if response.status_code == 200:
                return AccessToken.model_validate_json(response.content)
            delay_s = None
            if retry_status(response.status_code, True):
                delay_s = self.retry.delay_s(attempt, retry_after_s(response))
            if delay_s is None:
                raise _oauth_error(response)
            self.sleep(delay_s)
        raise CloudwalletError("POST /oauth/token: no attempt left")

    def _authorization(self) -> dict[str, str]:
        if self._api_key is not None:
            return {"Authorization": f"Bearer {self._api_key}"}
        if self._client_id is None:
            return {}  # the public routes (/health, /ready, /openapi.json...)
        with self._token_lock:
            if self._token is None or time.monotonic() >= self._token_expires_s:
                client_id, client_secret = self._client_id or "", self._client_secret or ""
                self._token = self.issue_token(client_id, client_secret)
                lifetime_s = max(0.0, self._token.expires_in - TOKEN_RENEW_BEFORE_S)
                self._token_expires_s = time.monotonic() + lifetime_s
            return {"Authorization": f"Bearer {self._token.access_token}"}


def _oauth_error(response: httpx.Response) -> CloudwalletError:
    try:
        body = response.json()
        return OAuthError(response.status_code, body["error"], body.get("error_description", ""))
    except (ValueError, KeyError, TypeError):
        error: ApiError = error_from(response)
        return error
