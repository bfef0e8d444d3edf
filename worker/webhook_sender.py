"""The webhook sender's edge to the endpoints: one signed POST per attempt over an aiohttp
client session, bounded by `webhook_timeout_ms`, its errors translated here into the outcome
the deliveries log shows (a status code, or why there was none). Redirects are not followed
(a 3xx is a failed attempt). Unless `webhook_allow_private` is set, the session connects only
to public addresses: a literal address is checked before the request, and a host name's
addresses as it is resolved, so that a name that came to resolve to a private address since the
endpoint was made is refused (shared/webhooks/addresses.py)."""

from __future__ import annotations

import asyncio
import socket
import time
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from shared.settings import Settings
from shared.webhooks.addresses import is_public, literal_address
from shared.webhooks.signatures import signed_headers

ERROR_LENGTH_MAX = 300  # of an error in the deliveries log
USER_AGENT = "cloudwallet-webhooks"


class PublicResolver(AbstractResolver):
    """A resolver that gives only a host's public addresses, and none (an OSError) when it has
    none."""

    def __init__(self) -> None:
        self._resolver = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._resolver.resolve(host, port, family)
        public = [result for result in found if _public(result["host"])]
        if not public:
            raise OSError(f"{host} resolves only to private addresses")
        return public

    async def close(self) -> None:
        await self._resolver.close()


def _public(host: str) -> bool:
    address = literal_address(host)
    return address is not None and is_public(address)


class Sender:
    """Signs and POSTs deliveries; open it with `async with`."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Sender:
        settings = self._settings
        connector = aiohttp.TCPConnector(
            limit=settings.webhook_in_flight_max,
            resolver=None if settings.webhook_allow_private else PublicResolver(),
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_ms / 1000),
            headers={"User-Agent": USER_AGENT},
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(
        self, url: str, secret: str, event_id: str, body: bytes
    ) -> tuple[int | None, str | None]:
        """One attempt: (the endpoint's HTTP status, None), or (None, why it did not answer)."""
        session = self._session
        if session is None:
            raise RuntimeError("the sender is not open")
        if not self._settings.webhook_allow_private and not self._allowed(url):
            return None, "refused: the URL names a private address"
        headers = signed_headers(secret, event_id, int(time.time()), body)
        headers["Content-Type"] = "application/json"
        timeout_ms = self._settings.webhook_timeout_ms
        try:
            async with (
                asyncio.timeout(timeout_ms / 1000),
                session.post(url, data=body, headers=headers, allow_redirects=False) as response,
            ):
                return response.status, None
        except TimeoutError:
            return None, f"timed out after {timeout_ms} ms"
        except (aiohttp.ClientError, OSError) as error:
            return None, _described(error)

    @staticmethod
    def _allowed(url: str) -> bool:
        literal = literal_address(urlsplit(url).hostname or "")
        return literal is None or is_public(literal)


def _described(error: BaseException) -> str:
    """The error for the deliveries log: its kind, its message and, for a connection that
    failed, the cause (aiohttp's message of a failed resolution does not say it)."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    cause = error.os_error if isinstance(error, aiohttp.ClientConnectorError) else None
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({cause})"
    return text[:ERROR_LENGTH_MAX]
