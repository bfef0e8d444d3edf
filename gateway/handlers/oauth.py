"""The OAuth2 token endpoint, client credentials grant (RFC 6749 section 4.4): a client (a key
made with `oauthClient: true`) trades its id and secret, by HTTP Basic or in the form body, for
a Bearer access token with its scope or a narrower one.

Errors answer in RFC 6749's form (section 5.2), `{"error", "error_description"}`, never the
API's: `invalid_request` (400: no grant_type, a parameter given twice, a body that is not a
form, two ways of authenticating at once), `invalid_client` (401, with `WWW-Authenticate`
when the client tried Basic: unknown client, wrong secret, a key that is not an OAuth2 client,
revoked or expired), `unsupported_grant_type` (400), `invalid_scope` (400: a scope that does
not exist, more than one, or one wider than the client's). Unknown parameters are ignored, as
section 3.2 asks. Failed client authentications count against the address like failed keys
(429 after the limit), and a token request takes from the client's rate limit."""

from __future__ import annotations

import base64
import binascii
import hmac
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web

from gateway import responses
from gateway.app_keys import AUTHENTICATOR, RATE_LIMITER, TOKENS
from gateway.auth import Principal
from gateway.openapi import examples
from gateway.openapi.endpoint import Endpoint
from shared.access.keystore import Scope, StoredKey
from shared.errors import ApiError
from shared.ids import split_api_key

TAG = "OAuth2"
FORM = "application/x-www-form-urlencoded"
FORM_FIELDS_MAX = 32  # a token request has four parameters; a longer form is refused unread
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# The scopes a client of each scope may ask for: its own, or a narrower one.
GRANTABLE: dict[Scope, frozenset[Scope]] = {
    Scope.FULL: frozenset({Scope.FULL, Scope.READ}),
    Scope.READ: frozenset({Scope.READ}),
    Scope.CUSTOMER: frozenset({Scope.CUSTOMER}),
}


class OAuthRefusal(Exception):
    """A token request refused, as RFC 6749 section 5.2 shapes it."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status
        self.basic_challenge = False


async def issue_token(request: web.Request) -> web.Response:
    try:
        form = await _read_form(request)
        client_id, client_secret = _client_credentials(request, form)
        grant_type = form.get("grant_type")
        if grant_type is None:
            raise OAuthRefusal("invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthRefusal("unsupported_grant_type", "only client_credentials is supported")
        client = await _authenticate(request, client_id, client_secret)
        scope = _granted_scope(client, form.get("scope"))
    except OAuthRefusal as refusal:
        body = responses.OAuthError(error=refusal.error, error_description=refusal.description)
        headers = dict(NO_STORE)
        if refusal.basic_challenge:
            headers["WWW-Authenticate"] = 'Basic realm="cloudwallet"'
        return web.Response(
            body=body.model_dump_json().encode(),
            status=refusal.status,
            content_type="application/json",
            headers=headers,
        )
    await request.app[RATE_LIMITER].admit(request, Principal(client, scope))
    tokens = request.app[TOKENS]
    token = responses.AccessToken(
        access_token=await tokens.issue(client, scope),
        token_type="Bearer",
        expires_in=tokens.ttl_s,
        scope=scope.value,
    )
    return web.Response(body=token.to_json(), content_type="application/json", headers=NO_STORE)


async def _read_form(request: web.Request) -> dict[str, str]:
    if request.content_type != FORM:
        raise OAuthRefusal("invalid_request", f"the body must be {FORM}")
    raw = await request.read()
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=bool(raw),
            max_num_fields=FORM_FIELDS_MAX,
        )
    except (UnicodeDecodeError, ValueError):
        raise OAuthRefusal("invalid_request", "the body is not a form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthRefusal("invalid_request", f"{name} is given more than once")
        form[name] = value
    return form


def _client_credentials(request: web.Request, form: dict[str, str]) -> tuple[str, str]:
    """(client_id, client_secret) from HTTP Basic or the body, never both (section 2.3)."""
    authorization = request.headers.get("Authorization")
    if authorization is None:
        if "client_id" not in form or "client_secret" not in form:
            raise OAuthRefusal("invalid_client", "client authentication is required", 401)
        return form["client_id"], form["client_secret"]
    if "client_secret" in form:
        raise OAuthRefusal("invalid_request", "authenticate by Basic or by the body, not both")
    scheme, _, encoded = authorization.partition(" ")
    try:
        if scheme.lower() != "basic":
            raise ValueError("not Basic")
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        client_id, separator, client_secret = decoded.partition(":")
        if not separator:
            raise ValueError("no colon")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        refusal = OAuthRefusal("invalid_client", "the Authorization header is not Basic", 401)
        refusal.basic_challenge = True
        raise refusal from None
    if "client_id" in form and form["client_id"] != unquote_plus(client_id):
        raise OAuthRefusal("invalid_request", "client_id differs from the Basic credentials")
    return unquote_plus(client_id), unquote_plus(client_secret)


async def _authenticate(request: web.Request, client_id: str, client_secret: str) -> StoredKey:
    """The client, an OAuth2 client key that is neither revoked nor expired; else
    invalid_client, counted as a failed authentication of the address."""
    authenticator = request.app[AUTHENTICATOR]
    refusal = authenticator.refusal(request)
    parsed = split_api_key(client_secret)
    client = None
    if parsed is not None and parsed[0] == client_id:
        client = await authenticator.key(client_id, request.remote or "", refusal)
    if (
        client is None
        or parsed is None
        or not hmac.compare_digest(client.secret_digest, parsed[1])
        or not client.oauth_client
        or authenticator.expired(client)
    ):
        failure: ApiError = authenticator.failed(request)
        if failure.status == 429:
            raise failure
        invalid = OAuthRefusal("invalid_client", "the client is not valid", 401)
        invalid.basic_challenge = "Authorization" in request.headers
        raise invalid
    return client


def _granted_scope(client: StoredKey, requested: str | None) -> Scope:
    if requested is None or requested == "":
        return client.scope
    if requested not in Scope._value2member_map_:
        raise OAuthRefusal("invalid_scope", f"unknown scope: {requested}")
    scope = Scope(requested)
    if scope not in GRANTABLE[client.scope]:
        raise OAuthRefusal("invalid_scope", f"the client may not have scope {requested}")
    return scope


ISSUE_TOKEN = Endpoint(
    "issueToken",
    issue_token,
    "An OAuth2 access token (client credentials)",
    TAG,
    response=responses.AccessToken,
    response_example=examples.ACCESS_TOKEN.model_dump(mode="json"),
    public=True,
    errors=("TooManyRequests", "RateLimited", "ServiceUnavailable"),
    response_headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    description="RFC 6749 section 4.4. The body is a form (`application/x-www-form-urlencoded`):"
    " `grant_type=client_credentials`, optionally `scope` (the client's own, or `read` for a"
    " `full` client), and `client_id` and `client_secret` unless they come by HTTP Basic. The"
    " token is sent as `Authorization: Bearer <access_token>` and acts with its scope until it"
    " expires or its client is revoked. Errors follow RFC 6749 section 5.2.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string", "enum": [s.value for s in Scope]},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                    },
                    "example": {
                        "grant_type": "client_credentials",
                        "scope": "read",
                        "client_id": examples.KEY.id,
                        "client_secret": examples.CREATED_KEY.secret,
                    },
                }
            },
        },
        "responses": {
            "400": {
                "description": "invalid_request, unsupported_grant_type or invalid_scope",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/OAuthError"},
                        "example": {
                            "error": "unsupported_grant_type",
                            "error_description": "only client_credentials is supported",
                        },
                    }
                },
            },
            "401": {
                "description": "invalid_client",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/OAuthError"},
                        "example": {
                            "error": "invalid_client",
                            "error_description": "the client is not valid",
                        },
                    }
                },
            },
        },
    },
)
