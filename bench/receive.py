"""`python -m bench.receive`: what receiving a delivery costs a consumer, with aiormq's own frame
reader and channel and a consumer task per delivery, and with `shared/fastpath/`'s reader and
channel and an `InlineConsumer` (as a partition writer receives), on the same broker, in
alternating rounds.

Each round queues `--messages` one-transfer transaction messages (the body a worker receives)
on a scratch quorum queue of the benchmark's virtual host, then a child process consumes them
with a callback that only keeps them and one multiple-ack per `--ack-every` deliveries, and
prints the CPU it spent per message. Every child runs one way, since `channels.install` holds
for a whole process. Only 127.0.0.1; the queue is deleted at the end of each round."""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime

import aiormq
import orjson
import uvloop
from pamqp import commands as spec

from bench.environment import bench_settings, load_average, reset
from shared.contract.messages import message_body
from shared.fastpath import channels
from shared.ids import new_id

QUEUE = "bench.receive"
PUBLISHES_IN_FLIGHT_MAX = 1000
READERS = ("aiormq", "fastpath")
ROUND_TIMEOUT_S = 600


def body() -> bytes:
    operation = {"type": "Transfer", "from": new_id(), "to": new_id(), "amount": "1"}
    return orjson.dumps(
        message_body(
            transaction_id=new_id(),
            project_id=new_id(),
            reference_id=new_id(),
            operations=[operation],
            submitted_at=datetime.now(UTC),
        )
    )


async def fill(url: str, messages: int) -> None:
    """A fresh quorum queue holding `messages` persistent messages, confirmed by the broker."""
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(QUEUE)
        await channel.queue_declare(QUEUE, durable=True, arguments={"x-queue-type": "quorum"})
        properties = spec.Basic.Properties(content_type="application/json", delivery_mode=2)
        payload = body()
        for start in range(0, messages, PUBLISHES_IN_FLIGHT_MAX):
            count = min(PUBLISHES_IN_FLIGHT_MAX, messages - start)
            await asyncio.gather(
                *(
                    channel.basic_publish(payload, routing_key=QUEUE, properties=properties)
                    for _ in range(count)
                )
            )
    finally:
        await connection.close()


async def consume(url: str, messages: int, ack_every: int, prefetch: int, inline: bool) -> float:
    """Consume `messages` deliveries; the CPU seconds it took."""
    connection = await aiormq.connect(url)
    try:
        channel = await connection.channel()
        await channel.basic_qos(prefetch_count=prefetch)
        inbox: asyncio.Queue[aiormq.abc.DeliveredMessage] = asyncio.Queue()

        async def keep(message: aiormq.abc.DeliveredMessage) -> None:
            inbox.put_nowait(message)

        callback = channels.InlineConsumer(inbox.put_nowait) if inline else keep
        started_cpu_s = time.process_time()
        await channel.basic_consume(QUEUE, callback, no_ack=False)  # type: ignore[arg-type]
        received = 0
        while received < messages:
            last = await inbox.get()
            received += 1
            while received % ack_every and not inbox.empty():
                last = inbox.get_nowait()
                received += 1
            if last.delivery_tag is not None:
                await channel.basic_ack(last.delivery_tag, multiple=True)
        spent_cpu_s = time.process_time() - started_cpu_s
        await channel.queue_delete(QUEUE)
        return spent_cpu_s
    finally:
        await connection.close()


def child(arguments: argparse.Namespace) -> None:
    ours = arguments.reader == "fastpath"
    if ours:
        channels.install()
    spent_cpu_s = uvloop.run(
        consume(arguments.url, arguments.messages, arguments.ack_every, arguments.prefetch, ours)
    )
    print(f"{spent_cpu_s / arguments.messages * 1e6:.1f}")


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.receive", description=__doc__)
    p.add_argument("--namespace", default="bench")
    p.add_argument("--redis-db", type=int, default=14, help="emptied at the start, as by the bench")
    p.add_argument("--messages", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--ack-every", type=int, default=500)
    p.add_argument("--prefetch", type=int, default=2000)
    p.add_argument("--reader", choices=READERS, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    arguments = p.parse_args()
    if arguments.reader is not None:
        child(arguments)
        return
    settings = bench_settings(arguments.namespace, arguments.redis_db)
    url = settings.amqp_url.get_secret_value()
    asyncio.run(reset(settings))
    print(f"load average at start: {load_average()}", flush=True)
    spent_us: dict[str, list[float]] = {reader: [] for reader in READERS}
    for round_number in range(1, arguments.rounds + 1):
        for reader in READERS:
            uvloop.run(fill(url, arguments.messages))
            command = [sys.executable, "-m", "bench.receive", "--reader", reader, "--url", url]
            command += ["--messages", str(arguments.messages)]
            command += ["--prefetch", str(arguments.prefetch)]
            command += ["--ack-every", str(arguments.ack_every)]
            result = subprocess.run(
                command, capture_output=True, text=True, check=True, timeout=ROUND_TIMEOUT_S
            )
            figure = float(result.stdout.split()[-1])
            spent_us[reader].append(figure)
            print(f"round {round_number} {reader:11s} {figure:6.1f} us CPU per message", flush=True)
    print(f"load average at end: {load_average()}")
    for reader, figures in spent_us.items():
        print(
            f"{reader:11s} median {statistics.median(figures):.1f} us per message received"
            f" (rounds: {', '.join(f'{figure:.1f}' for figure in figures)})"
        )


if __name__ == "__main__":
    main()
