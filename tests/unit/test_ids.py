"""Identifiers: `new_id` makes ULIDs (26 characters of Crockford base32, the creation time in
milliseconds first), so that they sort by time and any ULID library reads them."""

from __future__ import annotations

import time

from ulid import ULID

from shared.ids import new_id

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_new_ids_are_ulids_of_the_current_millisecond() -> None:
    before_ms = time.time_ns() // 1_000_000
    made = new_id()
    after_ms = time.time_ns() // 1_000_000
    assert len(made) == 26
    assert set(made) <= CROCKFORD
    assert made[0] in "01234567"  # 26 characters carry 130 bits, of which 128 are used
    assert before_ms <= ULID.from_str(made).milliseconds <= after_ms
    assert str(ULID.from_str(made)) == made


def test_new_ids_sort_by_time_and_do_not_repeat() -> None:
    earlier = [new_id() for _ in range(1000)]
    time.sleep(0.002)
    later = new_id()
    assert all(identifier < later for identifier in earlier)
    assert len(set(earlier)) == len(earlier)
