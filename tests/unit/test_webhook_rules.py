"""The webhooks' pure rules, as tables of cases and properties: Standard Webhooks signatures
(the convention's own test vector; a signature verifies if and only if the id, timestamp and
body it signed are unchanged), the retry schedule (exponential, bounded in attempts and age),
the URLs an endpoint may have, and the events a transaction's final state makes."""

from __future__ import annotations

import ipaddress

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.webhooks import addresses, events, signatures
from shared.webhooks.addresses import UrlRefused
from shared.webhooks.schedule import RetrySchedule

# The reference libraries' vector (standard-webhooks, libraries/python/tests).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_signature_is_the_conventions_own() -> None:
    assert signatures.sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == (
        VECTOR_SIGNATURE
    )
    headers = signatures.signed_headers(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY)
    assert headers == {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }


def _headers(**changes: str | None) -> dict[str, str]:
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE,
    }
    for name, value in changes.items():
        if value is None:
            del headers[name.replace("_", "-")]
        else:
            headers[name.replace("_", "-")] = value
    return headers


@pytest.mark.parametrize(
    ("headers", "body", "now_s", "valid"),
    [
        (_headers(), VECTOR_BODY, VECTOR_TIMESTAMP, True),
        (_headers(), VECTOR_BODY, VECTOR_TIMESTAMP + 300, True),  # at the tolerance
        (_headers(), VECTOR_BODY, VECTOR_TIMESTAMP + 301, False),  # too old
        (_headers(), VECTOR_BODY, VECTOR_TIMESTAMP - 301, False),  # from the future
        (_headers(), b'{"test": 2432232315}', VECTOR_TIMESTAMP, False),  # another body
        (_headers(webhook_id="msg_other"), VECTOR_BODY, VECTOR_TIMESTAMP, False),
        (_headers(webhook_id=None), VECTOR_BODY, VECTOR_TIMESTAMP, False),
        (_headers(webhook_timestamp="hello"), VECTOR_BODY, VECTOR_TIMESTAMP, False),
        (_headers(webhook_timestamp=None), VECTOR_BODY, VECTOR_TIMESTAMP, False),
        (_headers(webhook_signature=None), VECTOR_BODY, VECTOR_TIMESTAMP, False),
        (
            _headers(webhook_signature="v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="),
            VECTOR_BODY,
            VECTOR_TIMESTAMP,
            False,
        ),
        (  # several signatures, one of them right (a secret's rotation)
            _headers(webhook_signature=f"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy= v2,x {VECTOR_SIGNATURE}"),
            VECTOR_BODY,
            VECTOR_TIMESTAMP,
            True,
        ),
        (  # the right digest under another version
            _headers(webhook_signature=VECTOR_SIGNATURE.replace("v1,", "v2,")),
            VECTOR_BODY,
            VECTOR_TIMESTAMP,
            False,
        ),
        (  # header names in any case
            {name.title(): value for name, value in _headers().items()},
            VECTOR_BODY,
            VECTOR_TIMESTAMP,
            True,
        ),
    ],
)
def test_verification(headers: dict[str, str], body: bytes, now_s: int, valid: bool) -> None:
    assert signatures.verify(VECTOR_SECRET, headers, body, now_s) is valid


def test_new_secrets_are_whsec_and_32_random_bytes() -> None:
    secret = signatures.new_secret()
    assert secret.startswith("whsec_")
    assert len(signatures.secret_key(secret)) == 32
    assert signatures.new_secret() != secret
    with pytest.raises(signatures.InvalidSecret):
        signatures.secret_key("whsec_not base64!")


@given(
    event_id=st.text(min_size=1, max_size=40).filter(lambda text: text.strip() == text),
    timestamp=st.integers(min_value=0, max_value=2**40),
    body=st.binary(max_size=200),
    other_body=st.binary(max_size=200),
    shift=st.integers(min_value=-600, max_value=600),
)
def test_a_signature_verifies_if_and_only_if_what_it_signed_is_unchanged(
    event_id: str, timestamp: int, body: bytes, other_body: bytes, shift: int
) -> None:
    secret = VECTOR_SECRET
    headers = signatures.signed_headers(secret, event_id, timestamp, body)
    assert signatures.verify(secret, headers, body, timestamp + shift) is (abs(shift) <= 300)
    assert signatures.verify(secret, headers, other_body, timestamp) is (other_body == body)
    moved = headers | {"webhook-timestamp": str(timestamp + 1)}
    assert not signatures.verify(secret, moved, body, timestamp)
    assert not signatures.verify(signatures.new_secret(), headers, body, timestamp)


SCHEDULE = RetrySchedule(
    first_ms=5_000, longest_ms=3_600_000, attempts_max=12, age_max_ms=3 * 86_400_000
)


@pytest.mark.parametrize(
    ("attempts", "age_ms", "pause_ms"),
    [
        (1, 0, 5_000),
        (2, 5_000, 10_000),
        (3, 15_000, 20_000),
        (4, 35_000, 40_000),
        (10, 2_555_000, 2_560_000),
        (11, 5_115_000, 3_600_000),  # 5,120,000 capped at the longest pause
        (12, 8_715_000, None),  # out of attempts
        (5, 3 * 86_400_000 - 80_000, 80_000),  # the next attempt exactly at the age limit
        (5, 3 * 86_400_000 - 79_999, None),  # it would come after it
    ],
)
def test_the_retry_schedule(attempts: int, age_ms: int, pause_ms: int | None) -> None:
    assert SCHEDULE.next_pause_ms(attempts, age_ms) == pause_ms


@given(attempts=st.integers(min_value=1, max_value=1000))
def test_pauses_double_up_to_the_longest(attempts: int) -> None:
    pause_ms = SCHEDULE.pause_ms(attempts)
    assert SCHEDULE.first_ms <= pause_ms <= SCHEDULE.longest_ms
    assert SCHEDULE.pause_ms(attempts + 1) == min(2 * pause_ms, SCHEDULE.longest_ms)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("example.com/hook", "http or https"),
        ("http://", "must name a host"),
        ("https:///path", "must name a host"),
        ("https://user:pass@example.com/", "credentials"),
        ("https://example.com:99999/", "not a URL"),
        ("https://example.com:0/", "port 0"),
        ("https://exa mple.com/", "printable ASCII"),
        ("https://exämple.com/", "printable ASCII"),
        ("https://example.com/" + "a" * 2029, "at most 2048"),
    ],
)
def test_urls_refused_as_written(url: str, reason: str) -> None:
    with pytest.raises(UrlRefused, match=reason):
        addresses.parse_url(url, 2048)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/hook",
        "http://example.com:8080/hooks?token=abc#top",
        "HTTPS://EXAMPLE.COM/",
        "https://[2606:4700::1111]/hook",
        "https://example.com/" + "a" * 2028,  # 2,048 characters
    ],
)
def test_urls_accepted_as_written(url: str) -> None:
    addresses.parse_url(url, 2048)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True),
        ("1.1.1.1", True),
        ("2606:4700::1111", True),
        ("127.0.0.1", False),
        ("127.1.2.3", False),
        ("10.0.0.1", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # shared address space
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4 mapped
        ("::ffff:8.8.8.8", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert addresses.is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/hook", False),
        ("http://[::1]/hook", False),
        ("http://10.1.2.3/hook", False),
        ("http://169.254.169.254/latest/meta-data", False),
        ("http://localhost:8080/hook", False),  # resolves to loopback
        ("http://8.8.8.8/hook", True),
    ],
)
async def test_private_addresses_are_refused_unless_allowed(url: str, allowed: bool) -> None:
    checked = addresses.check_url(url, length_max=2048, allow_private=False, timeout_s=5)
    if allowed:
        await checked
    else:
        with pytest.raises(UrlRefused, match="private"):
            await checked
    await addresses.check_url(url, length_max=2048, allow_private=True, timeout_s=5)


async def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(UrlRefused, match="does not resolve"):
        await addresses.check_url(
            "https://no-such-host.invalid/hook", length_max=2048, allow_private=False, timeout_s=5
        )


def _transaction(status: str, operations: list[dict[str, str]]) -> dict[str, object]:
    return {
        "id": "tx1",
        "referenceId": "r1",
        "status": status,
        "operations": operations,
        "metadata": {},
        "createdAt": "2025-01-31T12:00:00.000Z",
        "completedAt": "2025-01-31T12:00:00.042Z",
    }


def _hold(status: str, resolved_by: str | None) -> dict[str, object]:
    return {
        "id": "tx0-0",
        "status": status,
        "resolvedByTransactionId": resolved_by,
        "resolvedAt": "2025-01-31T12:00:00.042Z" if resolved_by else None,
    }


@pytest.mark.parametrize(
    ("status", "operations", "holds", "expected"),
    [
        ("Completed", [{"type": "Issue"}], {}, [("tx1", "transaction.completed")]),
        ("Failed", [{"type": "Capture", "holdId": "tx0-0"}], {"tx0-0": _hold("Pending", None)},
         [("tx1", "transaction.failed")]),
        ("Completed", [{"type": "Capture", "holdId": "tx0-0"}],
         {"tx0-0": _hold("Captured", "tx1")},
         [("tx1", "transaction.completed"), ("tx0-0.captured", "hold.captured")]),
        ("Completed", [{"type": "Void", "holdId": "tx0-0"}], {"tx0-0": _hold("Voided", "tx1")},
         [("tx1", "transaction.completed"), ("tx0-0.voided", "hold.voided")]),
        ("Completed", [{"type": "Expire", "holdId": "tx0-0"}], {"tx0-0": _hold("Expired", "tx1")},
         [("tx1", "transaction.completed"), ("tx0-0.expired", "hold.expired")]),
        # A hold made (and resolved since by another transaction) is not this one's event.
        ("Completed", [{"type": "Hold", "holdId": "tx0-0"}], {"tx0-0": _hold("Captured", "tx9")},
         [("tx1", "transaction.completed")]),
        ("Pending", [{"type": "Issue"}], {}, []),
    ],
)  # fmt: skip
def test_the_events_of_a_final_state(
    status: str,
    operations: list[dict[str, str]],
    holds: dict[str, dict[str, object]],
    expected: list[tuple[str, str]],
) -> None:
    transaction = _transaction(status, operations)
    found = events.transaction_events("p1", transaction, holds)
    assert [(event.event_id, event.event_type) for event in found] == expected
    for event in found:
        body = orjson.loads(event.body)
        assert set(body) == {"id", "type", "createdAt", "data"}
        assert (body["id"], body["type"]) == (event.event_id, event.event_type)
        assert body["data"] == (transaction if body["type"].startswith("transaction") else
                                holds["tx0-0"])  # fmt: skip


@pytest.mark.parametrize(
    ("subscriptions", "event_type", "delivered"),
    [
        (["*"], "hold.expired", True),
        (["transaction.completed"], "transaction.completed", True),
        (["transaction.completed"], "transaction.failed", False),
        (["hold.captured", "hold.voided"], "hold.voided", True),
    ],
)
def test_subscriptions(subscriptions: list[str], event_type: str, delivered: bool) -> None:
    assert events.subscribed(subscriptions, event_type) is delivered
