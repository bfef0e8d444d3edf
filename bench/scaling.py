"""`python -m bench.scaling`: how the drain rate grows with worker processes.

With `--partitions` (16) partitions and `--projects` (32) projects spread evenly over them
(`bench/partitions.py`), it queues `--messages` one-transfer messages over all the projects,
starts K worker processes together and times them until every message is committed (first
to last commit, as the drain scenario of `python -m bench` does). It does so for each K of
`--workers` (1,2), each on a freshly reset and seeded ledger so that every K starts from the
same tables, checks the ledger after each, and prints the rates and their ratio to the first
K (`bench/scaling_report.py`). See docs/scaling.md ("Measured").
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import uvloop

from bench import drain, report
from bench.environment import bench_parser, bench_settings, load_average, reset
from bench.figures import batch_sizes
from bench.partitions import (
    close_gate,
    open_gate,
    projects_per_partition,
    wait_live,
    wait_settled,
)
from bench.processes import (
    Sampler,
    Service,
    reconnects,
    start_workers,
    stop_all,
    waited_for_cpu_percent,
)
from bench.scaling_report import block, print_report
from bench.seed import BenchLedger, create_ledger, fund
from shared.ops.verify import verify
from shared.settings import Settings

RESULTS_DIR = Path("bench/results")
PREFIX = "scale"
FUNDING_CONCURRENCY = 4  # projects funded at once: fewer batch requests in flight than allowed
QUEUE_ROUNDS = 8  # rounds over the projects when queueing, so that the partitions fill alike


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


@dataclass
class TimedDrain:
    """What one drain by worker processes measured while they ran."""

    queued_per_s: float
    queue_depth_before: int
    started_wall_s: float  # the workers' start, or the gate's opening
    load_average_start: str
    drained: drain.Drained
    settled_wall_s: float  # when every process was first seen holding its share
    shares: dict[str, int]
    waited_for_cpu_percent: dict[str, float | None]
    peak_rss_mb: dict[str, float]
    exited: dict[str, int]
    reconnects: dict[str, int]
    logs: dict[str, str]


async def timed_drain(
    arguments: argparse.Namespace,
    settings: Settings,
    log_dir: Path,
    sampler: Sampler,
    ledgers: list[BenchLedger],
    workers: int,
    label: str,
) -> TimedDrain:
    """Queue the messages, start `workers` processes together and time them until every
    message is committed. `--start gated`: the benchmark holds every partition's lease while
    the workers start, and lets go once all of them are live, so that each starts on its own
    share; `messages-first`: the workers start on the full queues, the first to heartbeat takes
    every partition and hands the others' shares over while it drains."""
    project_ids = [ledger.project_id for ledger in ledgers]
    per_project = arguments.messages // len(ledgers)
    services: dict[str, Service] = {}
    gate = await close_gate(settings) if arguments.start == "gated" else None
    try:
        queued = await drain.queue_over_projects(
            settings, ledgers, per_project, PREFIX, QUEUE_ROUNDS
        )
        depth = await drain.queue_depth(settings, project_ids)
        started = time.time()
        services = start_workers(settings, log_dir, sampler, f"{label}-drain", workers)
        if gate is not None:
            await wait_live(settings, workers)
            started = time.time()  # the drain starts now
            await open_gate(gate)
            gate = None
        load_start = load_average()
        waited_before = {name: service.waited_for_cpu_s() for name, service in services.items()}
        settling = asyncio.create_task(wait_settled(settings, workers))
        drained = await drain.wait_drained(settings, project_ids, PREFIX, queued.messages, started)
        waited = {
            name: waited_for_cpu_percent(before, services[name].waited_for_cpu_s(), drained.wall_s)
            for name, before in waited_before.items()
        }
        settled_wall_s, shares = await settling
        peak_rss = {
            name: service.peak_rss_mb()
            for name, service in services.items()
            if service.process.poll() is None
        }
    finally:
        exited = stop_all(services)
        if gate is not None:
            await gate.close()
    return TimedDrain(
        queued.messages / queued.elapsed_s,
        depth,
        started,
        load_start,
        drained,
        settled_wall_s,
        shares,
        waited,
        peak_rss,
        exited,
        {name: reconnects(service) for name, service in services.items()},
        {name: str(service.log_path) for name, service in services.items()},
    )


async def measure(
    arguments: argparse.Namespace,
    settings: Settings,
    log_dir: Path,
    sampler: Sampler,
    workers: int,
    label: str,
) -> dict[str, Any]:
    """One drain by `workers` processes started together, on a freshly reset and seeded
    ledger, with every message queued first; the ledger checked after it."""
    await reset(settings)
    ledgers = await seed(arguments, settings, log_dir, f"{label}-seed")
    project_ids = [ledger.project_id for ledger in ledgers]
    count = arguments.messages // len(ledgers) * len(ledgers)
    print(
        f"[{label}] seeded {len(ledgers)} projects x {arguments.wallets_per_project} funded"
        f" wallets; {arguments.start}: {workers} worker(s), {count} messages"
        f" (load average {load_average()})",
        flush=True,
    )
    timed = await timed_drain(arguments, settings, log_dir, sampler, ledgers, workers, label)
    drained, since = timed.drained, timed.settled_wall_s
    steady, last = await drain.committed_since(settings, project_ids, PREFIX, since)
    window = (timed.started_wall_s, timed.started_wall_s + drained.wall_s)
    names = [*timed.logs, "postgres", "rabbitmq", "redis", "machine"]
    result: dict[str, Any] = {
        "workers": workers,
        "start": arguments.start,
        "partitions": settings.partition_count,
        "projects": len(ledgers),
        "wallets_per_project": arguments.wallets_per_project,
        "messages": drained.messages,
        "queue_depth_before": timed.queue_depth_before,
        "queued_per_s": timed.queued_per_s,
        "load_average_start": timed.load_average_start,
        "load_average_end": load_average(),
        "rate_per_s": drained.rate_per_s,
        "wall_rate_per_s": drained.wall_rate_per_s,
        "commit_span_s": drained.commit_span_s,
        "shares": sorted(timed.shares.values()),
        "steady_after_s": since - timed.started_wall_s,
        "steady_transactions": steady,
        "steady_rate_per_s": steady / (last - since) if last > since else None,
        "batch_sizes": report.batch_summary(await batch_sizes(settings, project_ids, PREFIX)),
        "cpu_percent": {name: sampler.cpu_percent(name, *window) for name in names},
        "waited_for_cpu_percent": timed.waited_for_cpu_percent,
        "peak_rss_mb": timed.peak_rss_mb,
        "exited": timed.exited,
        "reconnects": timed.reconnects,
        "logs": timed.logs,
    }
    if arguments.verify:
        result.update(await ledger_check(settings))
    print("\n".join(block(result)), flush=True)
    return result


async def ledger_check(settings: Settings) -> dict[str, Any]:
    """`cloudwallet verify`'s checker over the whole ledger."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        checked = await verify(connection)
    finally:
        await connection.close()
    return {"ledger_consistent": checked.ok, "violations": checked.violations[:10]}


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
        for number, workers in enumerate(arguments.workers, 1):
            label = f"run{number}-{workers}w"
            run = await measure(arguments, settings, log_dir, sampler, workers, label)
            result["runs"].append(run)
    finally:
        sampler.stop()
    result["load_average_end"] = load_average()
    (log_dir / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    return result


def worker_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("worker counts are positive integers, e.g. 1,2")
    return counts


def parser() -> argparse.ArgumentParser:
    p = bench_parser("python -m bench.scaling", __doc__, partitions=16)
    p.add_argument("--projects", type=int, default=32, help="a multiple of --partitions")
    p.add_argument("--wallets-per-project", type=int, default=1000)
    p.add_argument("--messages", type=int, default=100_000, help="queued before each drain")
    p.add_argument(
        "--workers",
        type=worker_counts,
        default=[1, 2],
        help="worker processes of each drain, in order, e.g. 1,2 or 1,2,2,1",
    )
    p.add_argument(
        "--start",
        choices=("gated", "messages-first"),
        default="gated",
        help="workers start on their own shares (gated), or the first takes every partition",
    )
    return p


def main() -> None:
    arguments = parser().parse_args()
    if arguments.projects < 1 or arguments.projects % arguments.partitions:
        parser().error("--projects must be a positive multiple of --partitions")
    result = uvloop.run(run_scaling(arguments))
    print_report(result)
    consistent = all(run.get("ledger_consistent", True) for run in result["runs"])
    complete = not any(run["exited"] for run in result["runs"])
    if not complete:
        print("a worker process exited during a drain: that drain's figures are not valid")
    sys.exit(0 if consistent and complete else 1)


if __name__ == "__main__":
    main()
