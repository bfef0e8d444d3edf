"""An endpoint of the API as one value (an OpenAPI operation): its handler, what it reads and
answers, the error codes it may give, its examples and links. The router serves it, the request
readers check against it, and the OpenAPI document is generated from it. (Not the ledger's
`shared.core.ledger.Operation`, one step of a transaction.)"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Every error code the API answers, with its HTTP status.
ERROR_STATUS: dict[str, int] = {
    "ValidationError": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "KeyNotFound": 404,
    "RouteNotFound": 404,
    "ProjectNotFound": 404,
    "AssetNotFound": 404,
    "CustomerNotFound": 404,
    "WalletNotFound": 404,
    "TransactionNotFound": 404,
    "HoldNotFound": 404,
    "WebhookNotFound": 404,
    "AssetCodeTaken": 409,
    "AssetInUse": 409,
    "CustomerSuspended": 409,
    "CustomerHasActiveWallets": 409,
    "InvalidStatusTransition": 409,
    "WalletNotEmpty": 409,
    "DuplicateReferenceId": 409,
    "PayloadTooLarge": 413,
    "UnsupportedMediaType": 415,
    "TooManyRequests": 429,
    "RateLimited": 429,
    "ServiceUnavailable": 503,
    "QueueFull": 503,
    "QueueUnroutable": 503,
    "ReferenceIdInProgress": 503,
    "NotReady": 503,
}


@dataclass(frozen=True, slots=True)
class Link:
    """An OpenAPI link: how a value of this endpoint's answer feeds another endpoint."""

    name: str
    operation_id: str
    parameters: Mapping[str, str]
    request_body: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint; `response` None means an empty answer (204). `also_status` is a second
    success status with the same body (an upsert answers 201 or 200). `body_examples` are
    further request bodies, by name, each `{summary, value}`, shown after `body_example`."""

    operation_id: str
    handler: Handler
    summary: str
    tag: str
    status: int = 200
    also_status: int | None = None
    response: type[BaseModel] | None = None
    response_example: Any = None
    body: type[BaseModel] | None = None
    body_required: bool = True
    body_example: Any = None
    body_examples: Mapping[str, Any] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    errors: tuple[str, ...] = ()
    description: str = ""
    links: tuple[Link, ...] = ()
    response_headers: Mapping[str, str] = field(default_factory=dict)
    public: bool = False
    media_type: str = "application/json"
    # Parts of the OpenAPI operation written by hand (merged over the generated ones): the
    # token endpoint's form body and its RFC 6749 error responses.
    openapi_extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Route:
    """Where the router serves an endpoint: a method and a path template."""

    method: str
    path: str
    endpoint: Endpoint

    def path_parameters(self) -> list[str]:
        """The names of the ids in the path template, in order."""
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    def error_codes(self) -> list[str]:
        """Every code the route may answer: its own and those every route of its kind has."""
        codes: list[str] = []
        if not self.endpoint.public:
            # failed authentication's limit, the key's scope, the key's rate limit
            codes.extend(("Unauthorized", "TooManyRequests", "Forbidden", "RateLimited"))
        if self.path_parameters() or self.endpoint.body or self.endpoint.query:
            codes.append("ValidationError")
        if self.path_parameters():
            codes.append("RouteNotFound")
        if "projectId" in self.path_parameters():
            codes.append("ProjectNotFound")
        if self.endpoint.body is not None:
            codes.extend(("PayloadTooLarge", "UnsupportedMediaType"))
        if not self.endpoint.public:
            codes.append("ServiceUnavailable")
        codes.extend(code for code in self.endpoint.errors if code not in codes)
        return codes
