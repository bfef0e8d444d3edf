"""The process settings a worker applies as it starts."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from shared.settings import Settings
from worker.main import tune_garbage_collector


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_the_youngest_generation_is_collected_at_the_configured_threshold(
    thresholds: tuple[int, int, int],
) -> None:
    tune_garbage_collector(Settings(gc_threshold_allocations=12_345))
    assert gc.get_threshold() == (12_345, thresholds[1], thresholds[2])
    tune_garbage_collector(Settings(gc_threshold_allocations=0))  # 0: left as it is
    assert gc.get_threshold() == (12_345, thresholds[1], thresholds[2])
    assert Settings().gc_threshold_allocations == 50_000
