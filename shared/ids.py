"""Identifiers the service makes: ULIDs (26 characters, URL-safe, time-ordered)."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time

# base32's alphabet, mapped onto Crockford's, which ULIDs use.
_CROCKFORD = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"
)


def new_id() -> str:
    """A new time-ordered identifier: a ULID (48 bits of Unix milliseconds, then 80 random
    bits, in 26 characters of Crockford base32). Built here rather than with a ULID library
    because the submit path makes one per transaction and this is several times faster."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    # 26 characters carry 130 bits: left-align the 128 in 17 bytes and keep 26 characters.
    encoded = base64.b32encode((value << 6).to_bytes(17, "big"))[:26]
    return encoded.translate(_CROCKFORD).decode("ascii")


def new_api_key() -> tuple[str, str]:
    """A new API key and its key id: `cw.<key id>.<secret>`. The key is shown once; only the
    key id and a digest of the secret are stored."""
    key_id = new_id()
    return key_id, f"cw.{key_id}.{secrets.token_urlsafe(32)}"


def split_api_key(api_key: str) -> tuple[str, bytes] | None:
    """The key id and the digest of the secret of a presented key, or None if malformed."""
    parts = api_key.split(".")
    if len(parts) != 3 or parts[0] != "cw" or not parts[1] or not parts[2]:
        return None
    return parts[1], secret_digest(parts[2])


def secret_digest(secret: str) -> bytes:
    """The digest under which a key's secret is stored."""
    return hashlib.sha256(secret.encode("utf-8")).digest()
