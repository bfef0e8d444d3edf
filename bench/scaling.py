"""`python -m bench.scaling`: how the drain rate grows with worker processes.

With `--partitions` (16) partitions and `--projects` (32) projects spread evenly over them
(every partition gets the same number of projects), it queues `--messages` one-transfer
messages over all the projects with no worker running, then starts K worker processes at
once and times them until every message is committed (first to last commit, as the drain
scenario of `python -m bench` does). It does so for each K of `--workers` (1,2), each on a
freshly reset and seeded ledger so that every K starts from the same tables, checks the
ledger after each, and prints the rates and their ratio to the first K. See docs/scaling.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import uvloop

from bench import drain, report
from bench.environment import bench_settings, load_average, reset
from bench.figures import batch_sizes
from bench.processes import Sampler, Service
from bench.seed import BenchLedger, create_ledger, fund
from bench.workload import WalletPicker
from shared.ids import new_id
from shared.partition import PARTITION_LOCK_SPACE, partition_of
from shared.settings import Settings
from shared.verify import verify

RESULTS_DIR = Path("bench/results")
PREFIX = "scale"
PROJECT_DRAWS_MAX = 100_000  # project ids drawn, at most, to give every partition its projects
FUNDING_CONCURRENCY = 4  # projects funded at once: fewer batch requests in flight than allowed
SETTLE_TIMEOUT_S = 60  # for the worker processes to hold their shares of the partitions
SETTLE_POLL_S = 0.1

HELD_SHARES = """
SELECT a.application_name AS holder, count(DISTINCT l.objid) AS partitions
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objsubid = 2
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
GROUP BY a.application_name
"""


def projects_per_partition(
    partition_count: int,
    per_partition: int,
    draw: Callable[[], str] = new_id,
    draws_max: int = PROJECT_DRAWS_MAX,
) -> list[str]:
    """Project ids drawn until each of the `partition_count` partitions has exactly
    `per_partition` of them (`shared.partition.partition_of`), ordered by partition."""
    chosen: dict[int, list[str]] = {partition: [] for partition in range(partition_count)}
    missing = partition_count * per_partition
    draws = 0
    while missing and draws < draws_max:
        project_id = draw()
        draws += 1
        bucket = chosen[partition_of(project_id, partition_count)]
        if len(bucket) < per_partition and project_id not in bucket:
            bucket.append(project_id)
            missing -= 1
    if missing:
        raise ValueError(f"{draws} project ids left {missing} places of the partitions empty")
    return [project_id for partition in range(partition_count) for project_id in chosen[partition]]


def shares_settled(held: dict[str, int], workers: int, partition_count: int) -> bool:
    """Whether `workers` holders hold every partition between them, fairly (shares differ by
    at most one, as `worker.ownership.assign` makes them)."""
    sizes = list(held.values())
    return (
        len(sizes) == workers
        and sum(sizes) == partition_count
        and max(sizes, default=0) - min(sizes, default=0) <= 1
    )


async def held_shares(connection: asyncpg.Connection) -> dict[str, int]:
    """The partitions whose lease each writer session holds now, by application name (one
    name per worker process)."""
    rows = await connection.fetch(HELD_SHARES, PARTITION_LOCK_SPACE)
    return {row["holder"]: int(row["partitions"]) for row in rows}


async def wait_settled(settings: Settings, workers: int) -> tuple[float, dict[str, int]]:
    """Wait until `workers` processes hold their shares of the partitions' leases; the wall
    time it was first seen and the shares."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            held = await held_shares(connection)
            if shares_settled(held, workers, settings.partition_count):
                return time.time(), held
            await asyncio.sleep(SETTLE_POLL_S)
    finally:
        await connection.close()
    raise RuntimeError(f"{workers} workers did not hold their shares in {SETTLE_TIMEOUT_S} s")


async def committed_since(
    settings: Settings, project_ids: list[str], since_wall_s: float
) -> tuple[int, float]:
    """The drain's transactions committed at or after `since_wall_s`, and the last commit."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS committed, extract(epoch FROM max(completed_at))::float8 AS last"
            " FROM transactions WHERE project_id = ANY($1) AND reference_id LIKE $2"
            " AND completed_at >= to_timestamp($3)",
            project_ids,
            PREFIX + "-%",
            since_wall_s,
        )
    finally:
        await connection.close()
    if row is None or not row["committed"]:
        return 0, since_wall_s
    return int(row["committed"]), float(row["last"])


async def seed(
    arguments: argparse.Namespace, settings: Settings, log_dir: Path, label: str
) -> list[BenchLedger]:
    """`--projects` projects, the same number on every partition, each with its own funded
    wallets (funded through a gateway and a worker)."""
    project_ids = projects_per_partition(
        settings.partition_count, arguments.projects // settings.partition_count
    )
    services = [
        Service.start("worker", settings, log_dir, label),
        Service.start("gateway", settings, log_dir, label),
    ]
    try:
        ledgers = [
            await create_ledger(
                settings, arguments.wallets_per_project, project_id, f"bench-{number}"
            )
            for number, project_id in enumerate(project_ids)
        ]
        funding = asyncio.Semaphore(FUNDING_CONCURRENCY)

        async def funded(ledger: BenchLedger) -> None:
            async with funding:
                await fund(settings, ledger)

        await asyncio.gather(*(funded(ledger) for ledger in ledgers))
    finally:
        for service in services:
            service.stop()
    return ledgers


async def measure(
    arguments: argparse.Namespace, settings: Settings, log_dir: Path, sampler: Sampler, workers: int
) -> dict[str, Any]:
    """One drain by `workers` processes started together, on a freshly reset ledger."""
    label = f"{workers}w"
    await reset(settings)
    ledgers = await seed(arguments, settings, log_dir, f"seed-{label}")
    project_ids = [ledger.project_id for ledger in ledgers]
    per_project = arguments.messages // len(ledgers)
    count = per_project * len(ledgers)
    print(
        f"[{label}] seeded {len(ledgers)} projects x {arguments.wallets_per_project} funded"
        f" wallets; queueing {count} messages (load average {load_average()})",
        flush=True,
    )
    queued_s = 0.0
    for number, ledger in enumerate(ledgers):
        picker = WalletPicker(ledger.wallets, "uniform")
        queued = await drain.queue_messages(
            settings, ledger.project_id, picker, per_project, PREFIX, seed=number
        )
        queued_s += queued.elapsed_s
    depth = await drain.queue_depth(settings, project_ids)
    load_start = load_average()
    print(
        f"[{label}] {depth} messages ready on {settings.partition_count} partitions;"
        f" starting {workers} worker(s) (load average {load_start})",
        flush=True,
    )
    started = time.time()
    services = {
        f"worker-{number}": Service.launch("worker", settings, log_dir, f"drain-{label}-{number}")
        for number in range(1, workers + 1)
    }
    try:
        for name, service in services.items():
            sampler.watch(name, service.pid)
        for service in services.values():
            service.wait_ready(settings)
        settling = asyncio.create_task(wait_settled(settings, workers))
        drained = await drain.wait_drained(settings, project_ids, PREFIX, count, started)
        settled_wall_s, shares = await settling
        peak_rss = {name: service.peak_rss_mb() for name, service in services.items()}
    finally:
        for service in services.values():
            service.stop()
    steady, last = await committed_since(settings, project_ids, settled_wall_s)
    window = (started, started + drained.wall_s)
    names = [*services, "postgres", "rabbitmq", "redis", "machine"]
    cpu = {name: sampler.cpu_percent(name, *window) for name in names}
    result: dict[str, Any] = {
        "workers": workers,
        "partitions": settings.partition_count,
        "projects": len(ledgers),
        "wallets_per_project": arguments.wallets_per_project,
        "messages": count,
        "queue_depth_before": depth,
        "queued_per_s": count / queued_s,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "rate_per_s": drained.rate_per_s,
        "wall_rate_per_s": drained.wall_rate_per_s,
        "commit_span_s": drained.commit_span_s,
        "settled_after_s": settled_wall_s - started,
        "shares": sorted(shares.values()),
        "steady_transactions": steady,
        "steady_rate_per_s": steady / (last - settled_wall_s) if last > settled_wall_s else None,
        "batch_sizes": report.batch_summary(await batch_sizes(settings, project_ids, PREFIX)),
        "cpu_percent": cpu,
        "peak_rss_mb": peak_rss,
    }
    if arguments.verify:
        connection = await asyncpg.connect(settings.database_url.get_secret_value())
        try:
            checked = await verify(connection)
        finally:
            await connection.close()
        result["ledger_consistent"] = checked.ok
        result["violations"] = checked.violations[:10]
    print("\n".join(block(result)), flush=True)
    return result


def cpu_per_transaction_us(result: dict[str, Any], name: str) -> float | None:
    """CPU time of `name` per drained message, in microseconds (CPU over the span from the
    workers' start to the last commit, divided by the messages)."""
    percent: float | None = result["cpu_percent"].get(name)
    if percent is None:
        return None
    return percent * 10_000 / float(result["wall_rate_per_s"])


def block(result: dict[str, Any]) -> list[str]:
    workers = result["workers"]
    worker_names = [f"worker-{number}" for number in range(1, workers + 1)]
    cpu = result["cpu_percent"]
    batches = result["batch_sizes"]
    per_tx = {
        name: cpu_per_transaction_us(result, name)
        for name in [*worker_names, "postgres", "rabbitmq", "redis", "machine"]
    }
    workers_us = sum(per_tx[name] or 0.0 for name in worker_names)
    steady = result["steady_rate_per_s"]
    lines = [
        f"[{workers} worker process(es)] {result['messages']} one-transfer messages over"
        f" {result['projects']} projects on {result['partitions']} partitions, queued first"
        f" ({result['queued_per_s']:.0f} msg/s to queue); load average"
        f" {result['load_average_start']} at the workers' start, {result['load_average_end']}"
        " at the end",
        f"  drain rate {result['rate_per_s']:.0f} tx/s (first to last commit, over"
        f" {result['commit_span_s']:.1f} s); {result['wall_rate_per_s']:.0f} tx/s from the"
        " workers' start",
        f"  leases settled {result['settled_after_s']:.1f} s after the start, shares"
        f" {result['shares']}; from then on {result['steady_transactions']} tx at"
        f" {'-' if steady is None else f'{steady:.0f}'} tx/s",
        f"  worker batches: {batches.get('batches', 0)}, size mean {batches.get('mean', 0):.1f},"
        f" p50 {batches.get('p50', 0)}, max {batches.get('max', 0)}",
        "  CPU (% of one core): "
        + ", ".join(f"{name} {cpu[name]:.0f}%" for name in per_tx if cpu.get(name) is not None),
        "  CPU per transaction: "
        + ", ".join(f"{name} {value:.0f} us" for name, value in per_tx.items() if value)
        + f"; all workers {workers_us:.0f} us",
        "  peak RSS: "
        + ", ".join(f"{name} {value:.0f} MB" for name, value in result["peak_rss_mb"].items()),
    ]
    if "ledger_consistent" in result:
        verdict = "consistent" if result["ledger_consistent"] else "INCONSISTENT"
        lines.append(f"  ledger check (cloudwallet verify) after the drain: {verdict}")
        lines.extend(f"    {violation}" for violation in result["violations"])
    return lines


RATES = (
    ("drain", "rate_per_s"),
    ("from the start", "wall_rate_per_s"),
    ("after the leases settled", "steady_rate_per_s"),
)


def mean_rates(runs: list[dict[str, Any]]) -> dict[int, dict[str, float]]:
    """Each rate averaged over the runs of each worker count (a rate a run lacks is left out)."""
    rates: dict[int, dict[str, float]] = {}
    for workers in dict.fromkeys(run["workers"] for run in runs):
        same = [run for run in runs if run["workers"] == workers]
        rates[workers] = {}
        for _, key in RATES:
            values = [run[key] for run in same if run[key]]
            if values:
                rates[workers][key] = sum(values) / len(values)
    return rates


def ratios(runs: list[dict[str, Any]]) -> list[str]:
    """The mean rates of each worker count against those of the first run's count."""
    rates = mean_rates(runs)
    base_workers = runs[0]["workers"]
    base = rates[base_workers]
    counts = {workers: sum(run["workers"] == workers for run in runs) for workers in rates}
    lines = []
    for workers, rate in rates.items():
        if workers == base_workers:
            continue
        parts = [
            f"{label} {rate[key] / base[key]:.2f}x ({rate[key]:.0f} / {base[key]:.0f} tx/s)"
            for label, key in RATES
            if key in rate and key in base
        ]
        lines.append(
            f"ratio {workers} workers / {base_workers}"
            f" (mean of {counts[workers]} / {counts[base_workers]} runs): " + "; ".join(parts)
        )
    return lines


async def run_scaling(arguments: argparse.Namespace) -> dict[str, Any]:
    settings = bench_settings(
        arguments.namespace, arguments.redis_db, partition_count=arguments.partitions
    )
    log_dir = RESULTS_DIR / (datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-scaling")
    log_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "command": " ".join(["python -m bench.scaling", *sys.argv[1:]]),
        "started": datetime.now(UTC).isoformat(),
        "load_average_start": load_average(),
        "runs": [],
    }
    print(f"load average at start: {result['load_average_start']}; logs in {log_dir}")
    sampler = Sampler()
    sampler.start()
    try:
        for workers in arguments.workers:
            result["runs"].append(await measure(arguments, settings, log_dir, sampler, workers))
    finally:
        sampler.stop()
    result["load_average_end"] = load_average()
    (log_dir / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


def print_report(result: dict[str, Any]) -> None:
    lines = [
        "",
        "=" * 100,
        f"cloudwallet scaling benchmark, {result['started']}",
        result["command"],
    ]
    lines.append(
        f"load average (1/5/15 min) at start {result['load_average_start']},"
        f" at end {result['load_average_end']}"
    )
    for run in result["runs"]:
        lines.extend(block(run))
    lines.extend(ratios(result["runs"]))
    print("\n".join(lines))


def worker_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("worker counts are positive integers, e.g. 1,2")
    return counts


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    p.add_argument(
        "--namespace", default="bench", help="database cloudwallet_<ns>, vhost cloudwallet-<ns>"
    )
    p.add_argument("--redis-db", type=int, default=14)
    p.add_argument("--partitions", type=int, default=16)
    p.add_argument("--projects", type=int, default=32, help="a multiple of --partitions")
    p.add_argument("--wallets-per-project", type=int, default=1000)
    p.add_argument("--messages", type=int, default=100_000, help="queued before each drain")
    p.add_argument(
        "--workers",
        type=worker_counts,
        default=[1, 2],
        help="worker processes of each drain, in order, e.g. 1,2 or 1,2,2,1",
    )
    p.add_argument("--no-verify", dest="verify", action="store_false")
    return p


def main() -> None:
    arguments = parser().parse_args()
    if arguments.projects < 1 or arguments.projects % arguments.partitions:
        parser().error("--projects must be a positive multiple of --partitions")
    result = uvloop.run(run_scaling(arguments))
    print_report(result)
    consistent = all(run.get("ledger_consistent", True) for run in result["runs"])
    sys.exit(0 if consistent else 1)


if __name__ == "__main__":
    main()
