"""The SDK's `verify_webhook` follows the Standard Webhooks convention (DESIGN section 12): it
reproduces the convention's published test vector, accepts a delivery signed with the secret
within the timestamp tolerance, and refuses a changed body, another secret, an old or future
timestamp and missing headers."""

from __future__ import annotations

import pytest

from cloudwallet_client import WebhookVerificationError, sign_webhook, verify_webhook

# The Standard Webhooks specification's test vector.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MESSAGE_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = '{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
HEADERS = {
    "webhook-id": MESSAGE_ID,
    "webhook-timestamp": str(TIMESTAMP),
    "webhook-signature": SIGNATURE,
}


def test_the_published_vector() -> None:
    assert sign_webhook(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == SIGNATURE
    assert verify_webhook(SECRET, HEADERS, BODY, now_s=TIMESTAMP) == {"test": 2432232314}
    assert verify_webhook(SECRET, HEADERS, BODY.encode(), now_s=TIMESTAMP + 299) is not None


def test_headers_of_any_case_and_several_signatures() -> None:
    rotated = "v1,bm90IHRoZSBzaWduYXR1cmU= " + SIGNATURE
    headers = {
        "Webhook-Id": MESSAGE_ID,
        "WEBHOOK-TIMESTAMP": str(TIMESTAMP),
        "webhook-signature": rotated,
    }
    assert verify_webhook(SECRET, headers, BODY, now_s=TIMESTAMP)


@pytest.mark.parametrize(
    ("secret", "headers", "body", "now_s"),
    [
        (SECRET, HEADERS, BODY.replace("2432232314", "2432232315"), TIMESTAMP),
        ("whsec_" + "A" * 32, HEADERS, BODY, TIMESTAMP),
        (SECRET, HEADERS, BODY, TIMESTAMP + 301),
        (SECRET, HEADERS, BODY, TIMESTAMP - 301),
        (SECRET, HEADERS | {"webhook-id": "msg_other"}, BODY, TIMESTAMP),
        (SECRET, HEADERS | {"webhook-signature": SIGNATURE.replace("v1,", "v2,")}, BODY, TIMESTAMP),
        (SECRET, HEADERS | {"webhook-timestamp": "soon"}, BODY, TIMESTAMP),
        (SECRET, {"webhook-id": MESSAGE_ID, "webhook-signature": SIGNATURE}, BODY, TIMESTAMP),
    ],
    ids=["body", "secret", "old", "future", "id", "version", "timestamp", "missing"],
)
def test_what_is_refused(secret: str, headers: dict[str, str], body: str, now_s: int) -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, headers, body, now_s=now_s)


def test_a_secret_that_is_not_base64_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        verify_webhook("whsec_not base64!", HEADERS, BODY, now_s=TIMESTAMP)
