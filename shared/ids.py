"""Identifiers the service makes: ULIDs (26 characters, URL-safe, time-ordered)."""

from __future__ import annotations

import hashlib
import secrets

from ulid import ULID


def new_id() -> str:
    """A new time-ordered identifier."""
    return str(ULID())


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
