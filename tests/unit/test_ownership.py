"""Partition assignment: every partition has exactly one owner among the live workers, shares
differ by at most one, and every worker computes the same answer from the same list."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worker.ownership import assign

worker_lists = st.lists(st.text(alphabet="abcdef0123", min_size=1, max_size=4), max_size=6)


@given(st.integers(1, 64), worker_lists)
def test_each_partition_has_one_owner_and_shares_are_fair(
    partition_count: int, workers: list[str]
) -> None:
    shares = assign(partition_count, workers)
    assert set(shares) == set(workers)
    if not workers:
        return
    owned = [partition for share in shares.values() for partition in share]
    assert sorted(owned) == list(range(partition_count))
    sizes = [len(share) for share in shares.values()]
    assert max(sizes) - min(sizes) <= 1


@given(st.integers(1, 64), worker_lists)
def test_order_of_the_list_does_not_matter(partition_count: int, workers: list[str]) -> None:
    assert assign(partition_count, workers) == assign(partition_count, list(reversed(workers)))


def test_examples() -> None:
    assert assign(4, ["b", "a"]) == {"a": frozenset({0, 2}), "b": frozenset({1, 3})}
    assert assign(3, ["w"]) == {"w": frozenset({0, 1, 2})}
    assert assign(3, []) == {}
