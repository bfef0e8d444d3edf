"""Our own error hierarchy; library errors are translated into it once, at the edge that talks
to the library, and one gateway middleware maps it to HTTP.

    CloudwalletError
    ├── ApiError                 an expected, operating error with an HTTP status and a stable code
    │   ├── ValidationFailed     400 ValidationError, with the offending fields in details
    │   ├── Unauthorized         401 Unauthorized
    │   ├── Forbidden            403 Forbidden: the key's scope does not allow the route
    │   ├── NotFound             404 <Thing>NotFound
    │   ├── Conflict             409 DuplicateReferenceId, AssetInUse, WalletNotEmpty, ...
    │   ├── PayloadTooLarge      413 PayloadTooLarge
    │   ├── UnsupportedMediaType 415 UnsupportedMediaType: a body in a charset other than UTF-8
    │   └── Unavailable          503 ServiceUnavailable, with Retry-After
    │       ├── DatabaseUnavailable
    │       ├── BrokerUnavailable
    │       ├── CacheUnavailable
    │       └── TooManyRequests  429 TooManyRequests (too much in flight, failed authentications)
    │                            or RateLimited (the key's rate limit), with Retry-After
    ├── ConfigurationError       a setting the process cannot act on (tracing asked for
    │                            without its package): one line at start, and it stops
    ├── DeadLettered             a published transaction the worker dead-lettered, never applied
    │                            (an unknown project, a message it cannot read or store)
    └── InvariantViolation       a programmer error: the work must stop, never be acknowledged
"""

from __future__ import annotations

from typing import Any


class CloudwalletError(Exception):
    """Root of every error cloudwallet raises on purpose."""


class ApiError(CloudwalletError):
    """An expected error with an HTTP status, a stable code and optional details."""

    status = 500
    default_code = "InternalError"

    def __init__(
        self, message: str, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.details = details

    def body(self) -> dict[str, Any]:
        """The error as the API shows it."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class ValidationFailed(ApiError):
    status = 400
    default_code = "ValidationError"


class Unauthorized(ApiError):
    status = 401
    default_code = "Unauthorized"


class Forbidden(ApiError):
    status = 403
    default_code = "Forbidden"


class NotFound(ApiError):
    status = 404
    default_code = "NotFound"


class MethodNotAllowed(ApiError):
    status = 405
    default_code = "MethodNotAllowed"


class Conflict(ApiError):
    status = 409
    default_code = "Conflict"


class PayloadTooLarge(ApiError):
    status = 413
    default_code = "PayloadTooLarge"


class UnsupportedMediaType(ApiError):
    status = 415
    default_code = "UnsupportedMediaType"


class Unavailable(ApiError):
    status = 503
    default_code = "ServiceUnavailable"

    def __init__(self, message: str, *, retry_after_s: int = 1, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after_s = retry_after_s


class DatabaseUnavailable(Unavailable):
    pass


class BrokerUnavailable(Unavailable):
    pass


class CacheUnavailable(Unavailable):
    pass


class TooManyRequests(Unavailable):
    status = 429
    default_code = "TooManyRequests"


class ConfigurationError(CloudwalletError):
    """A setting the process cannot act on; the message says what to do."""


class DeadLettered(CloudwalletError):
    """A message published to the queue that the worker dead-lettered instead of applying it:
    its project is unknown, or the worker cannot read or store it (`reason`, as RabbitMQ's
    x-death header gives it). Publishing it again is refused the same way."""

    def __init__(self, message: str, *, transaction_id: str, reason: str) -> None:
        super().__init__(message)
        self.transaction_id = transaction_id
        self.reason = reason


class InvariantViolation(CloudwalletError):
    """A broken invariant: a bug, never an outcome to record."""


def invariant(condition: bool, message: str) -> None:
    """Raise InvariantViolation unless `condition` holds (unlike `assert`, survives `python -O`)."""
    if not condition:
        raise InvariantViolation(message)
