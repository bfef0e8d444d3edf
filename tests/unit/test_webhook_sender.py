"""The webhook sender's guard against private addresses as it connects (no service needed): a
literal private address is refused before any request, and a host name that resolves only to
private addresses (as `localhost` does; a name rebound since its endpoint was made would) gets
no connection, unless the deployment allows private addresses."""

from __future__ import annotations

import pytest

from shared.settings import Settings
from worker.webhook_sender import Sender


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://127.0.0.1:9/hook", "refused: the URL names a private address"),
        ("http://[::1]:9/hook", "refused: the URL names a private address"),
        ("http://localhost:9/hook", "resolves only to private addresses"),
    ],
)
async def test_private_addresses_get_no_connection(url: str, error: str) -> None:
    async with Sender(Settings(webhook_allow_private=False, webhook_timeout_ms=1000)) as sender:
        status, why = await sender.send(url, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "e1", b"{}")
    assert status is None
    assert why is not None and error in why, why


async def test_allowed_private_addresses_are_connected_to() -> None:
    async with Sender(Settings(webhook_allow_private=True, webhook_timeout_ms=1000)) as sender:
        status, why = await sender.send(
            "http://127.0.0.1:9/hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "e1", b"{}"
        )
    assert status is None
    assert why is not None and "Connect" in why, why  # refused by the port itself
