"""The benchmark's wallet picker: every distribution gives pairs of distinct wallets, and
`hot10` keeps all the traffic on the first ten wallets while using each of them."""

from __future__ import annotations

import random

import pytest

from bench.workload import HOT_WALLETS, Distribution, WalletPicker

WALLETS = [f"w{number}" for number in range(1000)]


@pytest.mark.parametrize("distribution", ["uniform", "zipf", "hot10"])
def test_pairs_are_of_distinct_wallets(distribution: Distribution) -> None:
    pairs = WalletPicker(WALLETS, distribution).pairs(2000, random.Random(1))
    assert len(pairs) == 2000
    assert all(source != target for source, target in pairs)


def test_hot10_uses_the_first_ten_wallets_only() -> None:
    pairs = WalletPicker(WALLETS, "hot10").pairs(2000, random.Random(2))
    used = {wallet for pair in pairs for wallet in pair}
    assert used == set(WALLETS[:HOT_WALLETS])


def test_uniform_spreads_beyond_the_first_ten() -> None:
    pairs = WalletPicker(WALLETS, "uniform").pairs(2000, random.Random(3))
    assert len({wallet for pair in pairs for wallet in pair}) > 500
