"""The errors the client raises, one class per HTTP status of the API's error shape
(`{"error": {"code", "message", "details"}}`), and the client's own.

    CloudwalletError
    ├── ApiError                  an answer in the API's error shape: status, code, message, details
    │   ├── ValidationFailed      400 ValidationError: `fields` names the offending fields
    │   ├── Unauthorized          401
    │   ├── Forbidden             403: the key's scope does not allow the route
    │   ├── NotFound              404 <Thing>NotFound (another tenant's things too)
    │   ├── Conflict              409 AssetInUse, WalletNotEmpty, InvalidStatusTransition, ...
    │   │   └── DuplicateReferenceId  the reference ID is taken: `transaction`, `request_matches`
    │   ├── PayloadTooLarge       413
    │   ├── UnsupportedMediaType  415
    │   ├── TooManyRequests       429 RateLimited or TooManyRequests, with `retry_after_s`
    │   └── ServiceUnavailable    503, with `retry_after_s`
    ├── OAuthError                /oauth/token refused the client (RFC 6749 section 5.2)
    ├── TransportError            no answer: the connection failed or timed out, retries spent
    ├── TransactionTimeout        `submit_and_wait` / `wait_for_transaction`: still Pending
    └── WebhookVerificationError  `verify_webhook`: not a delivery signed with this secret
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import ValidationError as PydanticValidationError

from cloudwallet_client.models import FieldError, Transaction


class CloudwalletError(Exception):
    """Root of every error this client raises."""


class ApiError(CloudwalletError):
    """The API answered an error. `code` is stable and machine-readable; `request_id` is the
    answer's X-Request-Id, which the service's logs carry."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        *,
        request_id: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details: dict[str, Any] = details or {}
        self.request_id = request_id
        self.retry_after_s = retry_after_s
        # How many attempts the client made before raising it (its retry policy).
        self.attempts = 1


class ValidationFailed(ApiError):
    @property
    def fields(self) -> list[FieldError]:
        """The offending fields (`operations[0].amount`, `body`, a query parameter)."""
        return [FieldError.model_validate(item) for item in self.details.get("fields", [])]


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    pass


class DuplicateReferenceId(Conflict):
    """The reference ID is already used in the project: `transaction` is the transaction that
    holds it, and `request_matches` says whether this request's body matched the first one (a
    retry of the same request, rather than another request under a taken reference ID)."""

    @property
    def transaction(self) -> Transaction:
        return Transaction.model_validate(self.details["transaction"])

    @property
    def request_matches(self) -> bool:
        return bool(self.details.get("requestMatches"))


class PayloadTooLarge(ApiError):
    pass


class UnsupportedMediaType(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class ServiceUnavailable(ApiError):
    pass


class OAuthError(CloudwalletError):
    """The token endpoint refused: `error` is RFC 6749's code (`invalid_client`, ...)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description


class TransportError(CloudwalletError):
    """No answer: the request could not be sent or its answer did not come in time, on every
    attempt the retry policy allowed. The cause is the last httpx error."""


class TransactionTimeout(CloudwalletError):
    """The transaction was still Pending when the wait ended; `transaction` is its last state
    read. It was accepted, so it will still complete: read it again later."""

    def __init__(self, transaction: Transaction, waited_s: float) -> None:
        super().__init__(f"transaction {transaction.id} still Pending after {waited_s:.1f} s")
        self.transaction = transaction
        self.waited_s = waited_s


class WebhookVerificationError(CloudwalletError):
    """A webhook delivery that is not signed with the secret, or signed too long ago."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: ValidationFailed,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
    503: ServiceUnavailable,
}


def retry_after_s(response: httpx.Response) -> float | None:
    """The answer's Retry-After in seconds (the API writes whole seconds), or None."""
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def error_from(response: httpx.Response) -> ApiError:
    """The error an answer of status 400 or above stands for."""
    try:
        detail = response.json()["error"]
        code, message = str(detail["code"]), str(detail["message"])
        details = detail.get("details")
    except (ValueError, KeyError, TypeError, PydanticValidationError):
        code, message, details = "HttpError", response.text[:500] or response.reason_phrase, None
    kind: type[ApiError] = _BY_STATUS.get(response.status_code, ApiError)
    if code == "DuplicateReferenceId":
        kind = DuplicateReferenceId
    return kind(
        response.status_code,
        code,
        message,
        details if isinstance(details, dict) else None,
        request_id=response.headers.get("X-Request-Id"),
        retry_after_s=retry_after_s(response),
    )
