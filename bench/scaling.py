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
QUEUE_ROUNDS = 8  # rounds over the projects when queueing, so that the partitions fill alike
RECONNECT_LOG = "Reconnecting after"  # what aio-pika logs when it reopens a lost connection

HELD_SHARES = """
SELECT a.application_name AS holder, count(DISTINCT l.objid) AS partitions
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $1 AND l.objsubid = 2
  AND a.application_name LIKE 'cloudwallet-writer:%'
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


async def close_gate(settings: Settings) -> asyncpg.Connection:
    """Hold every partition's lease from the benchmark's own session, so that worker processes
    that start now wait (their writers retry every `lease_retry_ms`) instead of writing."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    for partition in range(settings.partition_count):
        await connection.execute("SELECT pg_advisory_lock($1, $2)", PARTITION_LOCK_SPACE, partition)
    return connection


async def wait_live(settings: Settings, workers: int) -> None:
    """Wait until `workers` processes heartbeat, then two heartbeats more, so that each has
    computed its share with all of them live (`worker/ownership.py`)."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            live = await connection.fetchval(
                "SELECT count(*) FROM workers"
                " WHERE heartbeat_at > now() - make_interval(secs => $1)",
                settings.worker_timeout_ms / 1000,
            )
            if live >= workers:
                await asyncio.sleep(2 * settings.worker_heartbeat_ms / 1000)
                return
            await asyncio.sleep(SETTLE_POLL_S)
    finally:
        await connection.close()
    raise RuntimeError(f"{workers} workers did not heartbeat in {SETTLE_TIMEOUT_S} s")


async def open_gate(connection: asyncpg.Connection) -> None:
    await connection.execute("SELECT pg_advisory_unlock_all()")
    await connection.close()


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


async def queue_all(
    settings: Settings, ledgers: list[BenchLedger], per_project: int
) -> tuple[int, float]:
    """Queue `per_project` one-transfer messages for every project, in QUEUE_ROUNDS rounds over
    the projects so that every partition's queue grows alike; the messages and the seconds."""
    queued_s = 0.0
    queued = 0
    for round_number in range(QUEUE_ROUNDS):
        share = per_project // QUEUE_ROUNDS + (round_number < per_project % QUEUE_ROUNDS)
        if not share:
            continue
        for number, ledger in enumerate(ledgers):
            picker = WalletPicker(ledger.wallets, "uniform")
            done = await drain.queue_messages(
                settings,
                ledger.project_id,
                picker,
                share,
                f"{PREFIX}-r{round_number}",
                seed=round_number * len(ledgers) + number,
            )
            queued += done.messages
            queued_s += done.elapsed_s
    return queued, queued_s


def start_workers(
    settings: Settings, log_dir: Path, sampler: Sampler, label: str, workers: int
) -> dict[str, Service]:
    """`workers` worker processes, launched together, then waited for."""
    services: dict[str, Service] = {}
    try:
        for number in range(1, workers + 1):
            name = f"worker-{number}"
            services[name] = Service.launch("worker", settings, log_dir, f"{label}-{number}")
            sampler.watch(name, services[name].pid)
        for service in services.values():
            service.wait_ready(settings)
    except BaseException:
        stop_all(services)
        raise
    return services


def stop_all(services: dict[str, Service]) -> dict[str, int]:
    """Stop the processes; the exit codes of those that had exited before being asked."""
    exited = {
        name: int(service.process.returncode)
        for name, service in services.items()
        if service.process.poll() is not None
    }
    for service in services.values():
        service.stop()
    return exited


def waited_for_cpu_percent(
    before: float | None, after: float | None, drained: drain.Drained
) -> float | None:
    """The share of the drain (from the start to the last commit, checked a little later)
    that a process spent runnable but waiting for a core, in % of the drain's span."""
    if before is None or after is None:
        return None
    return 100 * (after - before) / drained.wall_s


def reconnects(service: Service) -> int:
    """How often the process's broker connection was lost and reopened, from its log."""
    return service.log_path.read_text(errors="replace").count(RECONNECT_LOG)


async def measure(
    arguments: argparse.Namespace,
    settings: Settings,
    log_dir: Path,
    sampler: Sampler,
    workers: int,
    label: str,
) -> dict[str, Any]:
    """One drain by `workers` processes started together, on a freshly reset ledger, with every
    message queued first. `--start gated`: the benchmark holds every partition's lease while
    the workers start, and lets go once all of them are live, so that each starts on its own
    share; `messages-first`: the workers start on the full queues, the first to heartbeat takes
    every partition and hands the others' shares over while it drains."""
    await reset(settings)
    ledgers = await seed(arguments, settings, log_dir, f"{label}-seed")
    project_ids = [ledger.project_id for ledger in ledgers]
    per_project = arguments.messages // len(ledgers)
    count = per_project * len(ledgers)
    print(
        f"[{label}] seeded {len(ledgers)} projects x {arguments.wallets_per_project} funded"
        f" wallets; {arguments.start}: {workers} worker(s), {count} messages"
        f" (load average {load_average()})",
        flush=True,
    )
    gated = arguments.start == "gated"
    services: dict[str, Service] = {}
    gate = await close_gate(settings) if gated else None
    try:
        queued, queued_s = await queue_all(settings, ledgers, per_project)
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
        drained = await drain.wait_drained(settings, project_ids, PREFIX, count, started)
        waited = {
            name: waited_for_cpu_percent(before, services[name].waited_for_cpu_s(), drained)
            for name, before in waited_before.items()
        }
        steady_since, shares = await settling
        peak_rss = {
            name: service.peak_rss_mb()
            for name, service in services.items()
            if service.process.poll() is None
        }
    finally:
        exited = stop_all(services)
        if gate is not None:
            await gate.close()
    steady, last = await committed_since(settings, project_ids, steady_since)
    window = (started, started + drained.wall_s)
    names = [*services, "postgres", "rabbitmq", "redis", "machine"]
    result: dict[str, Any] = {
        "workers": workers,
        "start": arguments.start,
        "partitions": settings.partition_count,
        "projects": len(ledgers),
        "wallets_per_project": arguments.wallets_per_project,
        "messages": count,
        "queue_depth_before": depth,
        "queued_per_s": queued / queued_s,
        "load_average_start": load_start,
        "load_average_end": load_average(),
        "rate_per_s": drained.rate_per_s,
        "wall_rate_per_s": drained.wall_rate_per_s,
        "commit_span_s": drained.commit_span_s,
        "shares": sorted(shares.values()),
        "steady_after_s": steady_since - started,
        "steady_transactions": steady,
        "steady_rate_per_s": steady / (last - steady_since) if last > steady_since else None,
        "batch_sizes": report.batch_summary(await batch_sizes(settings, project_ids, PREFIX)),
        "cpu_percent": {name: sampler.cpu_percent(name, *window) for name in names},
        "waited_for_cpu_percent": waited,
        "peak_rss_mb": peak_rss,
        "exited": exited,
        "reconnects": {name: reconnects(service) for name, service in services.items()},
        "logs": {name: str(service.log_path) for name, service in services.items()},
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
    start = "the leases' release" if result["start"] == "gated" else "the workers' start"
    lines = [
        f"[{workers} worker process(es), {result['start']}] {result['messages']} one-transfer"
        f" messages over {result['projects']} projects on {result['partitions']} partitions"
        f" ({result['queued_per_s']:.0f} msg/s to queue); load average"
        f" {result['load_average_start']} at {start}, {result['load_average_end']} at the end",
        f"  drain rate {result['rate_per_s']:.0f} tx/s (first to last commit, over"
        f" {result['commit_span_s']:.1f} s); {result['wall_rate_per_s']:.0f} tx/s from {start}",
        f"  leases settled {result['steady_after_s']:.1f} s after {start}, shares"
        f" {result['shares']}; from then on {result['steady_transactions']} tx at"
        f" {'-' if steady is None else f'{steady:.0f}'} tx/s",
        f"  worker batches: {batches.get('batches', 0)}, size mean {batches.get('mean', 0):.1f},"
        f" p50 {batches.get('p50', 0)}, max {batches.get('max', 0)}",
        "  CPU (% of one core): "
        + ", ".join(f"{name} {cpu[name]:.0f}%" for name in per_tx if cpu.get(name) is not None),
        "  CPU per transaction: "
        + ", ".join(f"{name} {value:.0f} us" for name, value in per_tx.items() if value)
        + f"; all workers {workers_us:.0f} us",
        "  waiting for a core (runnable, not running; % of the drain): "
        + ", ".join(
            f"{name} {value:.0f}%"
            for name, value in result["waited_for_cpu_percent"].items()
            if value is not None
        ),
        "  peak RSS: "
        + ", ".join(f"{name} {value:.0f} MB" for name, value in result["peak_rss_mb"].items()),
        "  broker connection reopened (from the logs): "
        + ", ".join(f"{name} {count}x" for name, count in result["reconnects"].items()),
    ]
    lines.extend(
        f"  {name} EXITED during the drain (code {code}); see {result['logs'][name]}"
        for name, code in result["exited"].items()
    )
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
        for number, workers in enumerate(arguments.workers, 1):
            label = f"run{number}-{workers}w"
            run = await measure(arguments, settings, log_dir, sampler, workers, label)
            result["runs"].append(run)
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
    p.add_argument(
        "--start",
        choices=("gated", "messages-first"),
        default="gated",
        help="workers start on their own shares (gated), or the first takes every partition",
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
    complete = not any(run["exited"] for run in result["runs"])
    if not complete:
        print("a worker process exited during a drain: that drain's figures are not valid")
    sys.exit(0 if consistent and complete else 1)


if __name__ == "__main__":
    main()
