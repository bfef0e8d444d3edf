"""The scaling benchmark's pure helpers: projects spread evenly over the partitions, and when
the worker processes hold their fair shares of the partitions."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.partitions import projects_per_partition, shares_settled
from bench.scaling_report import mean_rates
from shared.contract.partition import partition_of


@given(st.integers(1, 32), st.integers(1, 4))
def test_every_partition_gets_the_same_number_of_projects(
    partition_count: int, per_partition: int
) -> None:
    projects = projects_per_partition(partition_count, per_partition)
    assert len(set(projects)) == partition_count * per_partition
    partitions = [partition_of(project_id, partition_count) for project_id in projects]
    assert partitions == sorted(partitions)
    assert all(partitions.count(p) == per_partition for p in range(partition_count))


def test_too_few_draws_is_an_error_not_a_short_list() -> None:
    same = itertools.repeat("one-project")
    with pytest.raises(ValueError, match="left 3 places"):
        projects_per_partition(2, 2, draw=lambda: next(same), draws_max=50)


def test_shares_settle_only_when_every_partition_is_held_fairly() -> None:
    assert shares_settled({"w1": 16}, workers=1, partition_count=16)
    assert shares_settled({"w1": 8, "w2": 8}, workers=2, partition_count=16)
    assert shares_settled({"w1": 3, "w2": 2}, workers=2, partition_count=5)
    assert not shares_settled({"w1": 16}, workers=2, partition_count=16)  # the other not in yet
    assert not shares_settled({"w1": 12, "w2": 4}, workers=2, partition_count=16)
    assert not shares_settled({"w1": 8, "w2": 7}, workers=2, partition_count=16)  # one free
    assert not shares_settled({}, workers=1, partition_count=16)


def test_rates_are_averaged_per_worker_count() -> None:
    runs = [
        {"workers": 1, "rate_per_s": 100.0, "wall_rate_per_s": 90.0, "steady_rate_per_s": None},
        {"workers": 2, "rate_per_s": 150.0, "wall_rate_per_s": 120.0, "steady_rate_per_s": 160.0},
        {"workers": 1, "rate_per_s": 200.0, "wall_rate_per_s": 110.0, "steady_rate_per_s": 210.0},
    ]
    assert mean_rates(runs) == {
        1: {"rate_per_s": 150.0, "wall_rate_per_s": 100.0, "steady_rate_per_s": 210.0},
        2: {"rate_per_s": 150.0, "wall_rate_per_s": 120.0, "steady_rate_per_s": 160.0},
    }
