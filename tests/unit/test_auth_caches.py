"""The gateway's authentication memories on a clock the test moves: the cache serves an entry
fresh within its TTL and stale within its bound, never holds more than its entries; the failure
limiter refuses an address with no failure left, says when to come back, regains evenly and
remembers a bounded number of addresses."""

from __future__ import annotations

from gateway.auth import TtlCache
from gateway.auth_limits import FailureLimiter
from tests.support import namespace_settings


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_an_entry_is_fresh_then_stale_then_gone() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(10, 100, stale_max_s=60, clock=clock)
    cache.put("k", 1)
    clock.now_s += 9.9
    assert (cache.get("k"), cache.get_stale("k")) == (1, 1)
    clock.now_s += 0.1
    assert (cache.get("k"), cache.get_stale("k")) == (None, 1)
    clock.now_s += 50
    assert (cache.get("k"), cache.get_stale("k")) == (None, None)
    cache.put("k", 2)  # looked up again: fresh once more
    assert cache.get("k") == 2


def test_the_cache_keeps_its_entries_max_and_drops_the_longest_looked_up() -> None:
    cache: TtlCache[int, int] = TtlCache(10, 3, clock=Clock())
    for key in range(3):
        cache.put(key, key)
    cache.put(0, 0)  # looked up again: now the most recent
    cache.put(3, 3)
    assert [cache.get(key) for key in range(4)] == [0, None, 2, 3]


def test_a_ttl_of_zero_caches_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0, 10, stale_max_s=60, clock=Clock())
    cache.put("k", 1)
    assert (cache.get("k"), cache.get_stale("k")) == (None, None)


def limiter(clock: Clock, **overrides: int) -> FailureLimiter:
    values = {"auth_failures_per_address_max": 3, "auth_failure_window_s": 30} | overrides
    return FailureLimiter(namespace_settings(**values), clock=clock)


def test_an_address_is_refused_once_its_failures_are_used_up_and_regains_them() -> None:
    clock = Clock()
    failures = limiter(clock)
    for _ in range(3):
        assert failures.refusal("10.0.0.1") is None
        failures.record("10.0.0.1")
    refusal = failures.refusal("10.0.0.1")
    assert refusal is not None and refusal.status == 429 and refusal.code == "TooManyRequests"
    assert refusal.retry_after_s == 10  # one failure regained every 30 / 3 s
    assert failures.refusal("10.0.0.2") is None
    clock.now_s += 10
    assert failures.refusal("10.0.0.1") is None
    failures.record("10.0.0.1")
    assert failures.refusal("10.0.0.1") is not None


def test_the_limiter_remembers_at_most_its_addresses_max() -> None:
    clock = Clock()
    failures = limiter(clock, auth_failures_per_address_max=1, auth_failure_addresses_max=2)
    for address in ("a", "b", "c"):
        failures.record(address)
    assert [failures.refusal(address) is None for address in ("a", "b", "c")] == [
        True,
        False,
        False,
    ]
