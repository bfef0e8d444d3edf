"""`python -m bench`: set up a ledger with many funded wallets, drive open-loop load through the
gateway and worker processes it starts itself, run the SQL baselines on the same database and
wallets, and print the figures and the issue's targets. See docs/performance.md."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import uvloop

from bench import report
from bench.environment import bench_parser, bench_settings, load_average, reset
from bench.run import Run, http_scenarios
from bench.seed import create_ledger, fund
from shared.ops.verify import verify

RESULTS_DIR = Path("bench/results")

# The drain scenarios, in the order they run: name, reference-ID prefix, wallet distribution,
# 1 / the share of --drain-messages, whether the transactions travel --batch-size at a time
# in the batch messages the gateway would publish for them, and whether they are holds (a Hold
# of a transfer then its Capture, every other one partial) rather than transfers.
DRAINS = (
    ("drain-hot", "hotdrain", "zipf", 10, False, False),
    ("drain", "drain", "uniform", 1, False, False),
    ("drain-batch", "batchdrain", "uniform", 1, True, False),
    ("drain-holds", "holdsdrain", "uniform", 1, False, True),
)


async def run_bench(arguments: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(
        arguments.namespace,
        arguments.redis_db,
        partition_count=arguments.partitions,
        http_reuse_port=arguments.gateways > 1,
        # The keys' rate limit: a rate never reached with the default burst, so that its cost
        # is measured with the default leases (0 turns the limiter off: decision 0021).
        rate_limit_per_s=arguments.rate_limit_per_s,
    )
    log_dir = RESULTS_DIR / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir.mkdir(parents=True, exist_ok=True)
    run = Run(arguments, settings, log_dir)
    selected = set(arguments.scenarios.split(","))
    result: dict[str, Any] = {
        "command": " ".join(sys.argv),
        "started": datetime.now(UTC).isoformat(),
        "load_average_start": load_average(),
        "scenarios": {},
    }
    print(f"load average at start: {result['load_average_start']}; logs in {log_dir}")
    await reset(settings)
    run.sampler.start()
    try:
        services = run.start("seed", "worker", "gateway")
        try:
            ledger = await create_ledger(settings, arguments.wallets)
            await fund(settings, ledger)
        finally:
            run.stop(services)
        print(f"seeded {arguments.wallets} funded wallets")
        for scenario in http_scenarios(arguments):
            if scenario.name in selected:
                print(f"running {scenario.name} (load average {load_average()})", flush=True)
                result["scenarios"][scenario.name] = await run.http(scenario, ledger)
                print(
                    "\n".join(report.http_block(scenario.name, result["scenarios"][scenario.name]))
                )
        if "baselines" in selected:
            print(f"running baselines (load average {load_average()})", flush=True)
            result["baselines"] = await run.baselines(ledger)
        for name, prefix, distribution, share, batched, holds in DRAINS:
            if name in selected:
                count = max(1, arguments.drain_messages // share)
                print(f"running {name} of {count} (load average {load_average()})", flush=True)
                batch_size = arguments.batch_size if batched else 1
                result["scenarios"][name] = await run.drain(
                    ledger, prefix, count, distribution, batch_size=batch_size, holds=holds
                )
    finally:
        run.sampler.stop()
    if arguments.verify:
        connection = await asyncpg.connect(settings.database_url.get_secret_value())
        try:
            checked = await verify(connection, ledger.project_id)
        finally:
            await connection.close()
        result["ledger_consistent"] = checked.ok
        result["violations"] = checked.violations[:10]
    result["load_average_end"] = load_average()
    (log_dir / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


def print_report(result: dict[str, Any]) -> None:
    lines = ["", "=" * 100, f"cloudwallet benchmark, {result['started']}", result["command"]]
    lines.append(
        f"load average (1/5/15 min) at start {result['load_average_start']},"
        f" at end {result['load_average_end']}"
    )
    for name, scenario in result["scenarios"].items():
        lines.extend(
            report.drain_block(name, scenario)
            if name.startswith("drain")
            else report.http_block(name, scenario)
        )
    for baseline in result.get("baselines", {}).values():
        lines.append(
            f"[baseline {baseline['name']}] {baseline['transfers']} transfers in"
            f" {baseline['elapsed_s']:.1f} s = {baseline['rate_per_s']:.0f} tx/s"
        )
    if "ledger_consistent" in result:
        verdict = "consistent" if result["ledger_consistent"] else "INCONSISTENT"
        lines.append(f"ledger check (cloudwallet verify) after the run: {verdict}")
        lines.extend(f"  {violation}" for violation in result["violations"])
    lines.extend(report.targets(result))
    print("\n".join(lines))


def parser() -> argparse.ArgumentParser:
    p = bench_parser("python -m bench", __doc__, partitions=8)
    p.add_argument("--wallets", type=int, default=10_000)
    p.add_argument("--duration-s", type=float, default=20, help="load window of each HTTP scenario")
    p.add_argument("--tail-s", type=float, default=15, help="wait for late completions, at most")
    p.add_argument("--rate", type=float, default=2000, help="single submissions per second")
    p.add_argument("--rate-max", type=float, default=3500, help="the higher single-submission rate")
    p.add_argument("--batch-size", type=int, default=1000, help="transactions per batch request")
    p.add_argument("--batch-rate", type=float, default=16, help="batch requests per second")
    p.add_argument("--connections", type=int, default=256, help="keep-alive connections")
    p.add_argument(
        "--gateways",
        type=int,
        default=1,
        help="gateway processes sharing the HTTP port in the HTTP scenarios (SO_REUSEPORT)",
    )
    p.add_argument(
        "--backlog-s",
        type=float,
        default=1.0,
        help="requests waiting for a connection, in seconds of load, before drops",
    )
    p.add_argument("--drain-messages", type=int, default=1_000_000)
    p.add_argument("--baseline-a-s", type=float, default=15)
    p.add_argument("--baseline-a-transfers-max", type=int, default=200_000)
    p.add_argument("--baseline-b-batches", type=int, default=100)
    p.add_argument(
        "--scenarios",
        default="uniform-2000,uniform-max,hot-zipf,hot-10,three-op,batch,baselines,drain-hot,drain",
    )
    p.add_argument(
        "--rate-limit-per-s", type=int, default=1_000_000, help="the keys' rate limit (0: off)"
    )
    p.add_argument("--profile", action="store_true", help="py-spy the gateway and the worker")
    p.add_argument("--events", action="store_true", help="end-to-end from the events exchange")
    return p  # fmt: skip


def main() -> None:
    arguments = parser().parse_args()
    result = uvloop.run(run_bench(arguments))
    print_report(result)


if __name__ == "__main__":
    main()
