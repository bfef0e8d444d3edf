"""Identifiers the service makes: ULIDs (26 characters, URL-safe, time-ordered)."""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of Crockford characters, indexed by the 10 bits it spells.
_CHARACTER_PAIRS = [first + second for first in _CROCKFORD for second in _CROCKFORD]
_PAIR_SHIFTS = range(120, -1, -10)  # 13 pairs: 26 characters, 130 bits


def new_id() -> str:
    """A new time-ordered identifier: a ULID (48 bits of Unix milliseconds, then 80 random
    bits, in 26 characters of Crockford base32). Built here rather than with a ULID library,
    and ten bits at a time rather than with `base64.b32encode` (written in Python), because
    the submit path makes one per transaction."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return "".join([_CHARACTER_PAIRS[value >> shift & 1023] for shift in _PAIR_SHIFTS])


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


class RequestIds:
    """New request ids: a random prefix of this process and a counter, 24 characters of
    [0-9a-f]. Unique across processes by their prefixes (64 random bits), and far cheaper
    than a ULID, which the gateway would otherwise make for every request that brings no
    X-Request-Id (docs/decisions/0020-operating-signals.md)."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(8)
        self._counter = itertools.count()

    def new(self) -> str:
        """The next request id."""
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFF:08x}"
