"""Signatures of the Standard Webhooks convention (standardwebhooks.com): each delivery
carries `webhook-id`, `webhook-timestamp` (seconds since the epoch) and `webhook-signature`,
`v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`, where the key is the
base64-decoded part of the endpoint's secret after `whsec_`, as the convention's libraries
decode it. Receivers check the signature over the raw body and refuse an old timestamp."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"
SECRET_KEY_BYTES = 32  # the convention asks for 24 to 64 random bytes
SIGNATURE_VERSION = "v1"
# How far a timestamp may be from the receiver's clock (the reference libraries' tolerance).
TIMESTAMP_TOLERANCE_S = 5 * 60


class InvalidSecret(ValueError):
    """A secret that is not `whsec_` followed by base64."""


def new_secret() -> str:
    """A new endpoint secret, `whsec_<base64 of 32 random bytes>`."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_KEY_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a secret: the base64 after `whsec_` (a secret without the prefix is
    taken whole, as the reference libraries take it)."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as error:
        raise InvalidSecret("a webhook secret is whsec_ followed by base64") from error


def sign(secret: str, event_id: str, timestamp_s: int, body: bytes) -> str:
    """The `webhook-signature` value of one delivery: `v1,<base64 signature>`."""
    signed = f"{event_id}.{timestamp_s}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(secret: str, event_id: str, timestamp_s: int, body: bytes) -> dict[str, str]:
    """The three headers of one delivery."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp_s),
        "webhook-signature": sign(secret, event_id, timestamp_s, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    now_s: int,
    tolerance_s: int = TIMESTAMP_TOLERANCE_S,
) -> bool:
    """Whether a delivery's headers sign `body` with `secret` at a timestamp within
    `tolerance_s` of `now_s`: what a receiver checks. `webhook-signature` may list several
    space-separated signatures (during a secret's rotation); one that matches suffices."""
    lowered = {name.lower(): value for name, value in headers.items()}
    event_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not event_id or not timestamp.isdigit() or not timestamp.isascii():
        return False
    if abs(now_s - int(timestamp)) > tolerance_s:
        return False
    expected = sign(secret, event_id, int(timestamp), body).encode()
    return any(
        hmac.compare_digest(candidate.encode(), expected)
        for candidate in signatures.split(" ")
        if candidate.startswith(SIGNATURE_VERSION + ",")
    )
