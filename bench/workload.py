"""What the benchmark sends: transfers between wallets picked uniformly, by a Zipf law, or
among the first ten wallets alone,
one or three operations per transaction, as single submissions or as batches. Bodies are
built before the clock starts, so the load generator only writes bytes."""

from __future__ import annotations

import bisect
import itertools
import random
from dataclasses import dataclass
from typing import Any, Literal

import orjson

Distribution = Literal["uniform", "zipf", "hot10"]
HOT_WALLETS = 10  # the wallets that take all the traffic of `hot10`
AMOUNT_MAX = 100  # per transfer, far below what each wallet is funded with


@dataclass(frozen=True, slots=True)
class WalletPicker:
    """Picks pairs of distinct wallets; `zipf` ranks wallets and picks rank k with weight 1/k^s,
    `hot10` picks uniformly among the first HOT_WALLETS."""

    wallets: list[str]
    distribution: Distribution
    zipf_s: float = 1.0

    def cumulative_weights(self) -> list[float]:
        weights = [1 / (rank**self.zipf_s) for rank in range(1, len(self.wallets) + 1)]
        return list(itertools.accumulate(weights))

    def pairs(self, count: int, generator: random.Random) -> list[tuple[str, str]]:
        cumulative = self.cumulative_weights() if self.distribution == "zipf" else None
        total = cumulative[-1] if cumulative else 0.0
        size = (
            min(HOT_WALLETS, len(self.wallets))
            if self.distribution == "hot10"
            else len(self.wallets)
        )

        def pick() -> str:
            if cumulative is None:
                return self.wallets[generator.randrange(size)]
            return self.wallets[bisect.bisect_left(cumulative, generator.random() * total)]

        found = []
        for _ in range(count):
            source = pick()
            target = pick()
            while target == source:
                target = pick()
            found.append((source, target))
        return found


def transaction(
    reference_id: str, pairs: list[tuple[str, str]], generator: random.Random
) -> dict[str, Any]:
    """One transaction of one transfer per pair."""
    return {
        "referenceId": reference_id,
        "operations": [
            {
                "type": "Transfer",
                "from": source,
                "to": target,
                "amount": str(generator.randint(1, AMOUNT_MAX)),
            }
            for source, target in pairs
        ],
    }


def transactions(
    picker: WalletPicker,
    count: int,
    operations_per_transaction: int,
    reference_prefix: str,
    seed: int,
) -> list[dict[str, Any]]:
    """`count` transactions of `operations_per_transaction` transfers each."""
    generator = random.Random(seed)
    pairs = picker.pairs(count * operations_per_transaction, generator)
    return [
        transaction(
            f"{reference_prefix}-{number}",
            pairs[number * operations_per_transaction : (number + 1) * operations_per_transaction],
            generator,
        )
        for number in range(count)
    ]


def single_bodies(items: list[dict[str, Any]]) -> list[bytes]:
    return [orjson.dumps(item) for item in items]


def batch_bodies(items: list[dict[str, Any]], batch_size: int) -> list[bytes]:
    return [
        orjson.dumps({"transactions": items[start : start + batch_size]})
        for start in range(0, len(items), batch_size)
    ]
