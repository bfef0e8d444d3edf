"""OAuth2 access tokens (RFC 6749 section 4.4, client credentials): JWTs signed with HS256
(PyJWT) by the newest of the deployment's signing keys, which PostgreSQL holds
(`oauth_signing_keys`) and each gateway reads at start, every `oauth_signing_keys_refresh_s`,
and when a token names a `kid` it does not know (at most once per
`oauth_signing_keys_reload_min_ms`). A key is rotated by adding a new one (`cloudwallet keys
rotate-signing-key`): tokens signed with the old one stay valid until they expire or the old
key is deleted.

A token names its client (`sub`, the client's key id) and its scope; it is valid until `exp`
and while its client is neither revoked nor expired (gateway/auth.py looks the client up on
every request, through the same cache and revocation notices as any key)."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import jwt

from gateway.db import Database
from shared.access.keystore import Scope, StoredKey
from shared.errors import DatabaseUnavailable
from shared.ids import new_id
from shared.settings import Settings

log = logging.getLogger(__name__)
ISSUER = "cloudwallet"
ALGORITHM = "HS256"
SIGNING_KEYS = "SELECT kid, secret FROM oauth_signing_keys ORDER BY created_at, kid"
ADD_SIGNING_KEY = "INSERT INTO oauth_signing_keys (kid, secret) VALUES ($1, $2)"


def new_signing_key() -> tuple[str, bytes]:
    """A new signing key: its kid and 32 random bytes."""
    return f"sk-{new_id()}", secrets.token_bytes(32)


class Tokens:
    """Issues and verifies access tokens with the deployment's signing keys."""

    def __init__(self, database: Database, settings: Settings) -> None:
        self._database = database
        self.ttl_s = settings.oauth_token_ttl_s
        self._refresh_s = settings.oauth_signing_keys_refresh_s
        self._reload_min_s = settings.oauth_signing_keys_reload_min_ms / 1000
        self._secrets: dict[str, bytes] = {}  # kid -> secret, the newest last
        self._loaded_at = float("-inf")

    async def load(self) -> None:
        """Read the signing keys; while PostgreSQL cannot answer, keep those read before."""
        try:
            rows = await self._database.fetch(SIGNING_KEYS)
        except DatabaseUnavailable as error:
            log.warning("%s: the OAuth2 signing keys read before are used", error.message)
            return
        finally:
            self._loaded_at = time.monotonic()
        self._secrets = {row["kid"]: bytes(row["secret"]) for row in rows}

    async def issue(self, client: StoredKey, scope: Scope) -> str:
        """A new access token of the client, with `scope`, valid for `ttl_s`."""
        if time.monotonic() - self._loaded_at >= self._refresh_s or not self._secrets:
            await self.load()
        if not self._secrets:
            raise DatabaseUnavailable("no OAuth2 signing key is available")
        kid = next(reversed(self._secrets))
        now_s = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": client.id,
            "scope": scope.value,
            "iat": now_s,
            "exp": now_s + self.ttl_s,
            "jti": new_id(),
        }
        return jwt.encode(claims, self._secrets[kid], algorithm=ALGORITHM, headers={"kid": kid})

    async def verify(self, token: str) -> tuple[str, Scope] | None:
        """The client's key id and the token's scope, or None for a token that is malformed,
        signed with a key this deployment does not have, or expired."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.InvalidTokenError:
            return None
        if not isinstance(kid, str):
            return None
        secret = self._secrets.get(kid)
        if secret is None and time.monotonic() - self._loaded_at >= self._reload_min_s:
            await self.load()
            secret = self._secrets.get(kid)
        if secret is None:
            return None
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["exp", "iat", "sub", "scope"]},
            )
        except jwt.InvalidTokenError:
            return None
        subject, scope = claims["sub"], claims["scope"]
        if not isinstance(subject, str) or scope not in Scope._value2member_map_:
            return None
        return subject, Scope(scope)
