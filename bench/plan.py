"""`python -m bench.plan`: the CPU a partition writer spends on the pure part of a batch, with no
service involved: decoding the messages, finding the wallets to lock, planning the batch with the
ledger core, keeping its wallets for the next plan, planning ahead from them, and the save's
arguments. Prints microseconds per transaction of each step, the median of `--rounds` rounds of
`--repeats` batches of `--batch-size` one-transfer messages among `--wallets` wallets."""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.contract.messages import TransactionMessage
from shared.core import ledger
from worker.batch import LockedWallet, WalletCache, guess, plan_batch, wallet_ids
from worker.store import save_batch_arguments

PROJECT_ID = "01BENCHPLANPROJECT00000000"
BALANCE = 10**9


def bodies(batch_size: int, wallets: int, seed: int) -> list[bytes]:
    """One-transfer messages between distinct random wallets, as a writer receives them."""
    chosen = random.Random(seed)
    found = []
    for index in range(batch_size):
        source, target = chosen.sample(range(wallets), 2)
        operation = {"type": "Transfer", "from": f"w{source}", "to": f"w{target}", "amount": "7"}
        message = {
            "v": 1,
            "id": f"tx{index:020d}",
            "projectId": PROJECT_ID,
            "referenceId": f"ref-{index}",
            "operations": [operation],
            "submittedAt": "2026-01-01T00:00:00.000Z",
        }
        found.append(orjson.dumps(message))
    return found


def timed(step: Callable[[], Any], repeats: int, batch_size: int) -> float:
    """Microseconds per transaction of `step`, one batch per call."""
    step()
    start = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - start) / repeats / batch_size * 1e6


def one_round(arguments: argparse.Namespace) -> dict[str, float]:
    size, repeats = arguments.batch_size, arguments.repeats
    encoded = bodies(size, arguments.wallets, arguments.seed)
    messages = [TransactionMessage.model_validate_json(body, context={}) for body in encoded]
    wallets = {
        wallet_id: LockedWallet(
            PROJECT_ID, ledger.Wallet(wallet_id, "asset", ledger.WalletStatus.OPEN, BALANCE)
        )
        for wallet_id in wallet_ids(messages)
    }
    now = datetime.now(UTC)
    plan = plan_batch(messages, {}, wallets, now)
    cache = WalletCache(len(wallets))
    outbox = ("outbox", [message.id for message in messages])
    steps: dict[str, Callable[[], Any]] = {
        "decode": lambda: [TransactionMessage.model_validate_json(b, context={}) for b in encoded],
        "wallet_ids": lambda: wallet_ids(messages),
        "plan_batch": lambda: plan_batch(messages, {}, wallets, now),
        "remember": lambda: cache.remember(wallets, plan.balances),
        "guess": lambda: guess(messages, cache, now),
        "save_batch_arguments": lambda: save_batch_arguments(plan, 0, outbox, []),
    }
    return {name: timed(step, repeats, size) for name, step in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.plan", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, choices=range(1, 101), metavar="1-100")
    parser.add_argument("--repeats", type=int, default=50, choices=range(1, 10_001))
    parser.add_argument("--batch-size", type=int, default=500, choices=range(1, 10_001))
    parser.add_argument("--wallets", type=int, default=10_000, choices=range(2, 1_000_001))
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    rounds = [one_round(arguments) for _ in range(arguments.rounds)]
    print(
        f"{arguments.rounds} rounds of {arguments.repeats} batches of {arguments.batch_size}"
        f" one-transfer messages among {arguments.wallets} wallets; us per transaction, median"
        " (min-max)"
    )
    for name in rounds[0]:
        figures = [figures[name] for figures in rounds]
        print(
            f"  {name:22s} {statistics.median(figures):7.2f}"
            f" ({min(figures):.2f}-{max(figures):.2f})"
        )


if __name__ == "__main__":
    main()
