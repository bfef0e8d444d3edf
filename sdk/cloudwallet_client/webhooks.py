"""Verifying webhook deliveries, signed per the Standard Webhooks convention
(https://www.standardwebhooks.com): each delivery carries `webhook-id`, `webhook-timestamp`
(seconds since the epoch) and `webhook-signature`, a space-separated list of `v1,<base64>`
signatures, each the HMAC-SHA256, keyed by the base64-decoded secret after `whsec_`, of
`<webhook-id>.<webhook-timestamp>.<body>`.

    event = verify_webhook(secret, request.headers, request.body)

Verify the raw body as received, before any JSON parsing: a re-encoded body has other bytes."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from cloudwallet_client.errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
# How far a delivery's timestamp may be from now, either way: an older one may be a replay.
TOLERANCE_S = 300


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("the secret is not whsec_ followed by base64") from error


def sign_webhook(secret: str, message_id: str, timestamp: int | str, body: bytes | str) -> str:
    """The `webhook-signature` value of a delivery (`v1,<base64>`), as the service writes it."""
    payload = body.encode() if isinstance(body, str) else body
    signed = f"{message_id}.{timestamp}.".encode() + payload
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    *,
    tolerance_s: int = TOLERANCE_S,
    now_s: float | None = None,
) -> Any:
    """The delivery's JSON body (`{id, type, createdAt, data}`) if one of its signatures is
    the secret's and its timestamp is within `tolerance_s` of now; WebhookVerificationError
    otherwise. `headers` may be any mapping of the request's headers, of any case."""
    lowered = {name.lower(): value for name, value in headers.items()}
    try:
        message_id = lowered["webhook-id"]
        timestamp_text = lowered["webhook-timestamp"]
        signatures = lowered["webhook-signature"]
    except KeyError as missing:
        raise WebhookVerificationError(f"the {missing.args[0]} header is missing") from None
    try:
        timestamp = int(timestamp_text)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not a number") from None
    # Signed over the header's own text (a secret that is not whsec_<base64>: ValueError).
    expected = sign_webhook(secret, message_id, timestamp_text, body).encode()
    now = time.time() if now_s is None else now_s
    if abs(now - timestamp) > tolerance_s:
        raise WebhookVerificationError(
            f"webhook-timestamp is more than {tolerance_s} s from now (a replay, or a clock off)"
        )
    for signature in signatures.split():
        if hmac.compare_digest(signature.encode(), expected):
            return json.loads(body)
    raise WebhookVerificationError("no signature of the delivery is the secret's")
