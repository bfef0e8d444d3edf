"""How a benchmark run is printed: one block per scenario, the baselines, the ratios, and the
issue's targets as met or not met."""

from __future__ import annotations

from typing import Any

PROCESS_ORDER = ("gateway", "worker", "loadgen", "postgres", "rabbitmq", "redis")


def batch_summary(sizes: list[int]) -> dict[str, float]:
    if not sizes:
        return {}
    ordered = sorted(sizes)
    return {
        "batches": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "p50": ordered[len(ordered) // 2],
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
        "max": ordered[-1],
    }


def _ms(values: dict[str, float], *keys: str) -> str:
    if not values:
        return "-"
    return " / ".join(f"{values[key]:.1f}" for key in keys if key in values)


def _resources(result: dict[str, Any]) -> list[str]:
    cpu = result.get("cpu_percent", {})
    rss = result.get("peak_rss_mb", {})
    cpu_text = ", ".join(
        f"{name} {cpu[name]:.0f}%" for name in PROCESS_ORDER if cpu.get(name) is not None
    )
    names = [*PROCESS_ORDER, *sorted(set(rss) - set(PROCESS_ORDER))]  # gateway-2, ...
    rss_text = ", ".join(f"{name} {rss[name]:.0f} MB" for name in names if name in rss)
    return [f"  CPU (% of one core): {cpu_text}", f"  peak RSS: {rss_text}"]


def cpu_per_transaction(result: dict[str, Any], transactions_per_s: float) -> str:
    """CPU time of the gateway and the worker per transaction: what each costs, whatever the
    machine's load (a shared machine slows the wall clock, much less the CPU per unit)."""
    cpu = result.get("cpu_percent", {})
    if not transactions_per_s:
        return "-"
    parts = [
        f"{name} {cpu[name] * 10_000 / transactions_per_s:.0f} us"
        for name in ("gateway", "worker")
        if cpu.get(name)
    ]
    return ", ".join(parts) or "-"


def http_block(name: str, result: dict[str, Any]) -> list[str]:
    load = result["load"]
    statuses = load["statuses"]
    window_s = load["window_s"]
    other = {k: v for k, v in statuses.items() if k not in ("202", "409", "429", "503")}
    batches = result.get("batch_sizes", {})
    gateways = result.get("gateways", 1)
    lines = [
        f"[{name}] {result['description']}"
        + (f", {gateways} gateway processes on one port" if gateways > 1 else ""),
        f"  offered {load['offered_per_s']:.0f} tx/s for {window_s:.0f} s;"
        f" accepted {load['accepted_transactions'] / window_s:.0f} tx/s;"
        f" completed {load['completed_in_window'] / window_s:.0f} tx/s in the window"
        f" ({load['completed']} of {load['accepted_transactions']} completed by the end,"
        f" {load['failed']} Failed)",
        f"  responses: 202 {statuses.get('202', 0)}, 409 {statuses.get('409', 0)},"
        f" 429 {statuses.get('429', 0)}, 503 {statuses.get('503', 0)}, other {other or 0};"
        f" dropped {load['dropped']}, connection errors {load['errors']},"
        f" unanswered {load['unanswered']}",
        f"  accept latency p50 / p99 / p99.9 / max: "
        f"{_ms(load['accept_ms'], 'p50', 'p99', 'p99.9', 'p100')} ms"
        f" (refusals alone: {_ms(load.get('refused_ms', {}), 'p50', 'p99', 'p100')} ms)",
        f"  end-to-end latency (202 to applied) p50 / p99 / max: "
        f"{_ms(load['end_to_end_ms'], 'p50', 'p99', 'p100')} ms"
        f" [{load.get('end_to_end_source', 'events exchange, from the intended send time')}]",
        f"  worker batches: {batches.get('batches', 0)}, size mean {batches.get('mean', 0):.1f},"
        f" p50 {batches.get('p50', 0)}, p99 {batches.get('p99', 0)}, max {batches.get('max', 0)}",
        "  CPU per transaction: "
        + cpu_per_transaction(result, load["accepted_transactions"] / window_s),
    ]
    return lines + _resources(result)


def drain_block(name: str, result: dict[str, Any]) -> list[str]:
    batches = result.get("batch_sizes", {})
    batch_size = result.get("batch_size", 1)
    carried = (
        "one-transfer messages"
        if batch_size == 1
        else f"transfers in batches of {batch_size}, in the gateway's batch messages"
    )
    if result.get("holds"):
        carried = "one-operation messages, Holds each followed by its Capture (half partial),"
    lines = [
        f"[{name}] {result['messages']} {carried} ({result['distribution']} wallets)"
        " queued first"
        f" ({result['queued_per_s']:.0f} {'msg' if batch_size == 1 else 'tx'}/s to queue),"
        " then the worker started",
        f"  drain rate {result['rate_per_s']:.0f} tx/s (first to last commit);"
        f" {result['wall_rate_per_s']:.0f} tx/s from the worker's start",
        f"  worker batches: {batches.get('batches', 0)}, size mean {batches.get('mean', 0):.1f},"
        f" p50 {batches.get('p50', 0)}, max {batches.get('max', 0)}",
        "  CPU per transaction: " + cpu_per_transaction(result, result["wall_rate_per_s"]),
    ]
    return lines + _resources(result)


def target(label: str, met: bool | None, measured: str) -> str:
    verdict = "not measured" if met is None else ("MET" if met else "NOT MET")
    return f"  [{verdict:>12}] {label}: {measured}"


def targets(run: dict[str, Any]) -> list[str]:
    """The issue's targets against this run's figures."""
    scenarios = run["scenarios"]
    baselines = run.get("baselines", {})
    a = baselines.get("a", {}).get("rate_per_s")
    b = baselines.get("b", {}).get("rate_per_s")
    lines = ["targets (this machine, this run):"]
    drain = scenarios.get("drain")
    if drain and a and b:
        rate = drain["rate_per_s"]
        lines.append(target("worker drain >= 6x baseline (a)", rate >= 6 * a, f"{rate / a:.2f}x"))
        lines.append(
            target("worker drain >= 0.7x baseline (b)", rate >= 0.7 * b, f"{rate / b:.2f}x")
        )
    else:
        lines.append(target("worker drain vs baselines", None, "drain or baselines not run"))
    completed = {
        name: s["load"]["completed_in_window"] / s["load"]["window_s"]
        for name, s in scenarios.items()
        if "load" in s
    }
    best_single = max(
        (rate for name, rate in completed.items() if name.startswith("uniform")), default=None
    )
    lines.append(
        target(
            "single-transaction HTTP >= 3,000 completed tx/s",
            None if best_single is None else best_single >= 3000,
            "-" if best_single is None else f"{best_single:.0f} tx/s",
        )
    )
    paced = scenarios.get("uniform-2000")
    if paced and paced["load"]["offered_per_s"] < 2000:
        paced = None  # run at another rate: says nothing of this target
    p99 = paced["load"]["accept_ms"].get("p99") if paced else None
    lines.append(
        target(
            "accept p99 <= 20 ms at 2,000/s offered",
            None if p99 is None else p99 <= 20,
            "-" if p99 is None else f"{p99:.1f} ms",
        )
    )
    batch = completed.get("batch")
    lines.append(
        target(
            "batch endpoint >= 14,000 completed tx/s",
            None if batch is None else batch >= 14_000,
            "-" if batch is None else f"{batch:.0f} tx/s",
        )
    )
    uniform = completed.get("uniform-max")
    for scenario, wallets in (("hot-zipf", "Zipf s=1"), ("hot-10", "all traffic on 10 wallets")):
        hot = completed.get(scenario)
        lines.append(
            target(
                f"hot wallets ({wallets}) no more than 20% below uniform, over HTTP",
                None if not (uniform and hot) else hot >= 0.8 * uniform,
                "-"
                if not (uniform and hot)
                else f"{hot:.0f} vs {uniform:.0f} tx/s ({hot / uniform:.2f}x)",
            )
        )
    hot_drain = scenarios.get("drain-hot")
    if drain and hot_drain:
        ratio = hot_drain["rate_per_s"] / drain["rate_per_s"]
        lines.append(
            target(
                "hot wallets (Zipf s=1) no more than 20% below uniform, worker drain",
                ratio >= 0.8,
                f"{hot_drain['rate_per_s']:.0f} vs {drain['rate_per_s']:.0f} tx/s ({ratio:.2f}x)",
            )
        )
    rss = drain["peak_rss_mb"].get("worker") if drain else None
    million = drain is not None and drain["messages"] >= 1_000_000
    lines.append(
        target(
            "worker peak RSS < 300 MB draining 1M messages",
            None if rss is None or not million else rss < 300,
            "-"
            if rss is None
            else f"{rss:.0f} MB while draining {drain['messages'] if drain else 0} messages",
        )
    )
    if drain and a and b:
        lines.append(
            f"ratios: drain {drain['rate_per_s']:.0f} tx/s = {drain['rate_per_s'] / a:.2f}x (a),"
            f" {drain['rate_per_s'] / b:.2f}x (b)"
        )
    for name, rate in completed.items():
        if a and b:
            lines.append(
                f"ratios: {name} end-to-end {rate:.0f} tx/s = {rate / a:.2f}x (a),"
                f" {rate / b:.2f}x (b)"
            )
    return lines
