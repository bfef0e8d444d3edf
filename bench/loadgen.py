"""The open-loop load generator, run as its own process so that it does not share the
gateway's event loop: `python -m bench.loadgen SPEC.json RESULT.json`.

Request i is due at t0 + i / rate whatever happened before (open loop). It goes out on a free
keep-alive connection; when none is free it waits in a bounded backlog, and when the backlog is
full it is dropped and counted. Accept latency runs from the due time to the response, so time
spent waiting for a connection counts (no coordinated omission). With `events`, it also
listens on the events exchange and measures from the due time to each final state's arrival;
without (the default, since consuming thousands of events a second would take the load
generator's core), the benchmark reads end-to-end times from the database instead."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiormq
import orjson
import uvloop
from hdrh.histogram import HdrHistogram

from bench.http_client import Connection, build_request
from bench.workload import WalletPicker, batch_bodies, single_bodies, transactions

LATENCY_MAX_US = 120_000_000
PACING_STEP_S = 0.001
ERROR_SAMPLES_MAX = 5
EVENTS_EXCHANGE = "cloudwallet.events"


@dataclass
class Spec:
    host: str
    port: int
    api_key: str
    project_id: str
    amqp_url: str
    wallets: list[str]
    distribution: str
    operations_per_transaction: int
    batch_size: int  # 0: single submissions
    rate_per_s: float  # requests per second
    duration_s: float
    connections: int
    backlog_max: int
    tail_s: float
    seed: int
    reference_prefix: str
    events: bool = False


@dataclass
class Tally:
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    dropped: int = 0
    errors: int = 0
    accepted_transactions: int = 0
    accept_us: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, LATENCY_MAX_US, 3))
    # Refusals (429 and 503 with Retry-After) on their own: under overload, how fast the
    # service says no matters as much as how fast it says yes.
    refused_us: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, LATENCY_MAX_US, 3))
    end_to_end_us: HdrHistogram = field(default_factory=lambda: HdrHistogram(1, LATENCY_MAX_US, 3))
    completed: int = 0
    completed_in_window: int = 0
    failed: int = 0
    last_completion_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)


class LoadGenerator:
    def __init__(self, spec: Spec, requests: list[bytes]) -> None:
        self.spec = spec
        self.requests = requests
        self.tally = Tally()
        self.loop = asyncio.get_running_loop()
        self.idle: list[Connection] = []
        self.backlog: collections.deque[tuple[int, float]] = collections.deque()
        self.due_by_transaction: dict[str, float] = {}
        # A final state can arrive before its 202 when the gateway is the slower of the two.
        self.early_events: dict[str, tuple[float, str]] = {}
        self.outstanding = 0
        self.t0 = 0.0
        self.window_end = 0.0
        self.all_sent = False
        self.settled = asyncio.Event()  # everything sent was answered and completed

    def check_settled(self) -> None:
        if self.all_sent and not (self.outstanding or self.backlog or self.due_by_transaction):
            self.settled.set()

    async def open_connections(self) -> None:
        for _ in range(self.spec.connections):
            _, protocol = await self.loop.create_connection(
                lambda: Connection(self.on_response, self.on_lost), self.spec.host, self.spec.port
            )
            self.idle.append(protocol)

    def on_lost(self, connection: Connection) -> None:
        if connection.busy:
            self.tally.errors += 1
            self.outstanding -= 1
        if connection in self.idle:
            self.idle.remove(connection)

    def dispatch(self, index: int, due: float) -> None:
        while self.idle:
            connection = self.idle.pop()
            if connection.open:
                self.outstanding += 1
                connection.send(self.requests[index], due)
                return
        if len(self.backlog) < self.spec.backlog_max:
            self.backlog.append((index, due))
        else:
            self.tally.dropped += 1

    def on_response(self, connection: Connection, status: int, body: bytes) -> None:
        now = self.loop.time()
        due = connection.token
        assert isinstance(due, float)
        self.outstanding -= 1
        self.tally.statuses[status] += 1
        latency_us = max(1, int((now - due) * 1e6))
        self.tally.accept_us.record_value(latency_us)
        if status in (429, 503):
            self.tally.refused_us.record_value(latency_us)
        if status == 202:
            self.note_accepted(body, due)
        elif len(self.tally.error_samples) < ERROR_SAMPLES_MAX:
            self.tally.error_samples.append(f"{status} {body[:300].decode(errors='replace')}")
        if self.backlog:
            index, next_due = self.backlog.popleft()
            self.outstanding += 1
            connection.send(self.requests[index], next_due)
        else:
            self.idle.append(connection)
            self.check_settled()

    def note_accepted(self, body: bytes, due: float) -> None:
        answer = orjson.loads(body)
        if self.spec.batch_size:
            accepted = [item["body"]["id"] for item in answer["items"] if item["status"] == 202]
        else:
            accepted = [answer["id"]]
        self.tally.accepted_transactions += len(accepted)
        if not self.spec.events:
            return
        for transaction_id in accepted:
            early = self.early_events.pop(transaction_id, None)
            if early is None:
                self.due_by_transaction[transaction_id] = due
            else:
                self.complete(due, *early)

    async def on_event(self, message: aiormq.abc.DeliveredMessage) -> None:
        now = self.loop.time()
        state = orjson.loads(message.body)
        due = self.due_by_transaction.pop(state["id"], None)
        if due is None:
            self.early_events[state["id"]] = (now, state["status"])
        else:
            self.complete(due, now, state["status"])

    def complete(self, due: float, now: float, status: str) -> None:
        self.tally.completed += 1
        if now <= self.window_end:
            self.tally.completed_in_window += 1
        if status == "Failed":
            self.tally.failed += 1
        self.tally.end_to_end_us.record_value(max(1, int((now - due) * 1e6)))
        self.tally.last_completion_s = now - self.t0
        self.check_settled()

    async def run(self) -> dict[str, Any]:
        spec = self.spec
        events = await aiormq.connect(spec.amqp_url)
        if spec.events:
            channel = await events.channel()
            declared = await channel.queue_declare(exclusive=True, auto_delete=True)
            if declared.queue is None:
                raise RuntimeError("the broker named no queue")
            await channel.queue_bind(
                declared.queue, EVENTS_EXCHANGE, routing_key=f"*.*.{spec.project_id}"
            )
            await channel.basic_consume(declared.queue, self.on_event, no_ack=True)
        await self.open_connections()
        total = len(self.requests)
        interval_s = 1 / spec.rate_per_s
        self.t0 = self.loop.time() + 0.05
        self.window_end = self.t0 + spec.duration_s
        started_wall = time.time() + 0.05
        index = 0
        while index < total:
            now = self.loop.time()
            due = self.t0 + index * interval_s
            if due > now:
                # Never less than PACING_STEP_S: uvloop's timers count whole milliseconds, so a
                # shorter sleep returns at once and the loop spun (58% of a core at 3,500/s).
                # Requests keep their due times, so the latency of a late send is counted.
                await asyncio.sleep(max(due - now, PACING_STEP_S))
                now = self.loop.time()
            while index < total and self.t0 + index * interval_s <= now:
                self.dispatch(index, self.t0 + index * interval_s)
                index += 1
        sent_end = self.loop.time()
        self.all_sent = True
        self.check_settled()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.settled.wait(), timeout=spec.tail_s)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        for connection in self.idle:
            connection.close()
        await events.close()
        tally = self.tally
        return {
            "started_wall_s": started_wall,
            "window_s": spec.duration_s,
            "send_span_s": sent_end - self.t0,
            "requests": total,
            "offered_per_s": spec.rate_per_s * max(1, spec.batch_size),
            "statuses": {str(key): value for key, value in sorted(tally.statuses.items())},
            "dropped": tally.dropped,
            "errors": tally.errors,
            "unanswered": self.outstanding + len(self.backlog),
            "accepted_transactions": tally.accepted_transactions,
            "completed": tally.completed,
            "completed_in_window": tally.completed_in_window,
            "failed": tally.failed,
            "not_completed": len(self.due_by_transaction),
            "last_completion_s": tally.last_completion_s,
            "accept_ms": percentiles(tally.accept_us, (50, 99, 99.9, 100)),
            "refused_ms": percentiles(tally.refused_us, (50, 99, 99.9, 100)),
            "end_to_end_ms": percentiles(tally.end_to_end_us, (50, 99, 99.9, 100)),
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024,
            "error_samples": tally.error_samples,
        }


def percentiles(histogram: HdrHistogram, points: tuple[float, ...]) -> dict[str, float]:
    if histogram.get_total_count() == 0:
        return {}
    return {f"p{point:g}": histogram.get_value_at_percentile(point) / 1000 for point in points}


def build_requests(spec: Spec) -> list[bytes]:
    request_count = int(spec.rate_per_s * spec.duration_s)
    per_request = max(1, spec.batch_size)
    picker = WalletPicker(spec.wallets, spec.distribution)  # type: ignore[arg-type]
    items = transactions(
        picker,
        request_count * per_request,
        spec.operations_per_transaction,
        spec.reference_prefix,
        spec.seed,
    )
    if spec.batch_size:
        path = f"/projects/{spec.project_id}/transactions/batch"
        bodies = batch_bodies(items, spec.batch_size)
    else:
        path = f"/projects/{spec.project_id}/transactions"
        bodies = single_bodies(items)
    host = f"{spec.host}:{spec.port}"
    return [build_request(host, path, spec.api_key, body) for body in bodies]


async def generate(spec: Spec, requests: list[bytes]) -> dict[str, Any]:
    return await LoadGenerator(spec, requests).run()


def main(spec_path: Path, result_path: Path) -> None:
    spec = Spec(**orjson.loads(spec_path.read_bytes()))
    requests = build_requests(spec)
    result = uvloop.run(generate(spec, requests))
    result_path.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
