"""Each scenario drives load through a real gateway process into real worker processes, injects
one kind of fault (kill -9, a crash between commit and ack, a Redis flush, killed PostgreSQL
backends, closed broker connections, a paused worker with a standby, a PostgreSQL outage) and
then proves with `verify` and the client's log that nothing was lost or applied twice."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
import asyncpg
import pytest
import redis.asyncio as redis

from shared.settings import Settings
from tests.faults.conftest import LOAD_SCALE, ROUNDS, SOAK
from tests.faults.processes import REPLAY_LINE, Process, Processes
from tests.faults.scenario import Scenario
from tests.faults.workload import wait_final
from tests.proxy import POSTGRESQL_PORT, proxy_to, through
from tests.support import vhost_of
from worker.failpoints import FAILPOINT_DROPPED_BATCHES_MAX as DROPPED_BATCHES_MAX
from worker.failpoints import FAILPOINT_LOST_COMMITS_MAX as LOST_COMMITS_MAX

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900 if SOAK else 150)]
STALE_RECHECK_WAIT_S = 20
LOAD_S = 1.5 * LOAD_SCALE  # load before the first fault, and between faults
FAILPOINT_EXIT_CODE = 137
HOLD_LINE = "fail point: holding the transaction"
RELAY_LINE = "outbox relay published"


async def rabbitmqctl(*arguments: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "-q", *arguments, stdout=asyncio.subprocess.DEVNULL
    )
    assert await asyncio.wait_for(process.wait(), timeout=60) == 0


async def test_kill_worker_mid_batch(processes: Processes, session: aiohttp.ClientSession) -> None:
    scenario = Scenario("kill -9 worker mid-batch", processes, session)
    await scenario.start()
    for _ in range(2 * ROUNDS):
        await asyncio.sleep(LOAD_S)
        fault_at = scenario.now()
        scenario.workers[-1].signal(signal.SIGKILL)
        assert await scenario.workers[-1].wait_exit() == -signal.SIGKILL
        await scenario.add_worker()
        await scenario.recovered(fault_at)
    await asyncio.sleep(LOAD_S)
    await scenario.finish()


async def test_crash_after_commit_before_ack(
    processes: Processes, session: aiohttp.ClientSession
) -> None:
    """The fail point ends the worker right after its first commit: that whole batch comes
    back from the broker and must be recognized as applied, message by message."""
    scenario = Scenario("kill after commit before ack (fail point)", processes, session)
    await scenario.start()
    for _ in range(ROUNDS):
        await scenario.workers[-1].stop()  # let a backlog build up for a large first batch
        await asyncio.sleep(LOAD_S)
        crashing = await scenario.add_worker(
            ready=False,
            CLOUDWALLET_FAILPOINT="after-commit-before-ack",
            CLOUDWALLET_BATCH_WAIT_MS="300",
        )
        assert await crashing.wait_exit() == FAILPOINT_EXIT_CODE
        fault_at = scenario.now()
        await scenario.add_worker()
        await scenario.recovered(fault_at)
    await asyncio.sleep(LOAD_S)
    committed = sum(
        int(line.split("committing a batch of ")[1].split()[0])
        for worker in scenario.workers
        for line in worker.log().splitlines()
        if "fail point: exiting after committing a batch of" in line
    )
    scenario.note(f"committed but unacknowledged at the crash={committed}")
    await scenario.finish()  # which also checks that every transaction was announced
    assert committed > 0
    assert processes.replays().already_applied >= committed
    # The crashed worker's events were published by the outbox relay of the next one.
    assert any(RELAY_LINE in worker.log() for worker in scenario.workers[1:])


async def _relayed_fail_point(
    processes: Processes, session: aiohttp.ClientSession, name: str, fail_point: str, line: str
) -> tuple[int, int]:
    """Run the load with a fail point of the worker; every transaction must still be
    announced (`finish` checks it). Returns how often the fail point fired and how many
    outbox relays ran."""
    scenario = Scenario(name, processes, session)
    await scenario.start(CLOUDWALLET_FAILPOINT=fail_point)
    await asyncio.sleep(LOAD_S)
    await scenario.finish()
    log = scenario.workers[0].log()
    fired = log.count(line)
    relays = sum(1 for logged in log.splitlines() if RELAY_LINE in logged)
    scenario.note(f"fail point fired={fired}; relays={relays}")
    return fired, relays


async def test_event_publishes_fail(processes: Processes, session: aiohttp.ClientSession) -> None:
    """The broker refuses the events of the first batches (a fail point) while the worker goes
    on: the batches are acked, their outbox rows stay, and the relay announces them."""
    dropped, relays = await _relayed_fail_point(
        processes,
        session,
        "event publishes fail (fail point)",
        "drop-events",
        "fail point: dropping the events of a batch",
    )
    assert dropped == DROPPED_BATCHES_MAX
    assert relays


async def test_commit_answers_lost(processes: Processes, session: aiohttp.ClientSession) -> None:
    """The first batches commit but their connection "breaks" before the answer (a fail point):
    the retry finds them applied and does not announce them, and the relay does."""
    lost, relays = await _relayed_fail_point(
        processes,
        session,
        "commit answers lost (fail point)",
        "lose-commits",
        "fail point: losing the answer of a commit",
    )
    assert lost == LOST_COMMITS_MAX
    assert processes.replays().already_applied > 0
    assert relays


async def test_redis_flushed_mid_run_with_clients_resubmitting(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    """After FLUSHDB the gateway has forgotten every reference ID, PostgreSQL has not: a
    resubmission of an applied reference ID is still a 409 naming its transaction (the
    workload checks `requestMatches`), found by the gateway's lookup in PostgreSQL."""
    scenario = Scenario("Redis FLUSHDB mid-run, 10% resubmitted", processes, session)
    await scenario.start(resubmit_fraction=0.1)
    client = redis.Redis.from_url(fault_settings.redis_url.get_secret_value())
    duplicates_after_flushes = 0
    try:
        for _ in range(ROUNDS):
            await asyncio.sleep(LOAD_S)
            before_flush = list(scenario.load.accepted)
            fault_at = scenario.now()
            await client.flushdb()
            duplicates_at_flush = scenario.load.counts.duplicate_409
            await scenario.recovered(fault_at)
            await asyncio.sleep(LOAD_S)
            duplicates_after_flushes += scenario.load.counts.duplicate_409 - duplicates_at_flush
    finally:
        await client.aclose()
    scenario.note(f"409s after the flushes={duplicates_after_flushes}")
    await scenario.finish()
    # Reads fall back to PostgreSQL for what Redis forgot.
    for item in before_flush[:: max(1, len(before_flush) // 50)]:
        await wait_final(scenario.load.api, scenario.load.project_id, item.id, timeout_s=5)
    assert duplicates_after_flushes > 0, "no resubmission after a flush was answered 409"


async def test_worker_database_backends_terminated(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    scenario = Scenario("pg_terminate_backend of the worker mid-batch", processes, session)
    await scenario.start()
    database_name = fault_settings.database_url.get_secret_value().rsplit("/", 1)[1]
    admin = await asyncpg.connect(fault_settings.database_url.get_secret_value())
    terminated = 0
    try:
        for _ in range(ROUNDS):
            await asyncio.sleep(LOAD_S)
            fault_at = scenario.now()
            for _ in range(8):
                terminated += await admin.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = $1 AND application_name = 'cloudwallet-worker'",
                    database_name,
                )
                await asyncio.sleep(0.15)
            await scenario.recovered(fault_at)
    finally:
        await admin.close()
    await asyncio.sleep(LOAD_S)
    interrupted = sum(worker.log().count("database unavailable") for worker in scenario.workers)
    scenario.note(f"backends terminated={terminated}, batch attempts interrupted={interrupted}")
    await scenario.finish()
    assert terminated > 0


async def test_broker_connections_closed_under_load(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    """Both the gateway's and the worker's connections go; both reconnect, the worker's
    consumers come back, and in-flight batches are redelivered."""
    scenario = Scenario("rabbitmqctl close_all_connections under load", processes, session)
    await scenario.start()
    for _ in range(2 * ROUNDS):
        await asyncio.sleep(LOAD_S)
        fault_at = scenario.now()
        await rabbitmqctl(
            "close_all_connections", "-p", vhost_of(fault_settings), "cloudwallet fault test"
        )
        await scenario.recovered(fault_at)
    await asyncio.sleep(LOAD_S)
    await scenario.finish()
    assert all(worker.popen.poll() is None for worker in scenario.workers)


async def test_paused_worker_replaced_by_standby(
    processes: Processes, session: aiohttp.ClientSession
) -> None:
    """SIGSTOP the worker writing the load's partition while it holds a batch's transaction
    and its partition lock open (a fail point widens that moment): the other worker, seeing
    the paused one's heartbeat expire, waits on the partition's lock until PostgreSQL ends the
    paused session (idle_in_transaction_session_timeout), and consumes once the broker has
    noticed the missed heartbeats. SIGCONT: the old worker still believes it owns the
    partition and retries its batch; under the partition lock it finds every message of it
    already applied, and applies nothing twice."""
    scenario = Scenario("SIGSTOP active worker, another takes over, SIGCONT", processes, session)
    hold = {"CLOUDWALLET_FAILPOINT": "hold-transaction"}
    await scenario.start(**hold)
    await scenario.add_worker(**hold)  # the two share the partitions
    for _ in range(ROUNDS):
        await asyncio.sleep(LOAD_S)
        active = await _next_to_log(scenario.workers, HOLD_LINE)
        fault_at = scenario.now()
        active.signal(signal.SIGSTOP)
        try:
            await scenario.recovered(fault_at)
        finally:
            active.signal(signal.SIGCONT)
        await asyncio.sleep(LOAD_S)
    # A batch the resumed worker retried after the other had applied it: all of it already
    # applied. The resumed worker retries it once the partition is assigned back to it and the
    # other has let go of the lease: seconds later. (Some of its messages may carry the
    # redelivered flag, from an earlier handover of the partition.)
    fenced = await _stale_batches_rechecked(scenario.workers, ROUNDS)
    scenario.note(f"stale batches re-checked under the partition lock={fenced}")
    await scenario.finish()
    assert fenced >= ROUNDS
    assert all(worker.popen.poll() is None for worker in scenario.workers)


async def _stale_batches_rechecked(workers: list[Process], expected: int) -> int:
    """How many batches were found wholly applied already, waiting up to
    STALE_RECHECK_WAIT_S for `expected` of them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STALE_RECHECK_WAIT_S
    while True:
        fenced = sum(
            1
            for worker in workers
            for match in REPLAY_LINE.finditer(worker.log())
            if match[4] == match[1]
        )
        if fenced >= expected or loop.time() > deadline:
            return fenced
        await asyncio.sleep(0.1)


async def _next_to_log(processes: list[Process], text: str) -> Process:
    """The first of `processes` to log `text` again."""
    seen = [process.log().count(text) for process in processes]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        for process, count in zip(processes, seen, strict=True):
            if process.log().count(text) > count:
                return process
        assert loop.time() < deadline, f"no worker logged {text!r}"
        await asyncio.sleep(0.02)


async def test_worker_database_outage(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    """PostgreSQL goes away for the worker only: it stops consuming (its prefetch window
    stays full and unacknowledged), requeues and dead-letters nothing, and resumes alone."""
    async with proxy_to(POSTGRESQL_PORT) as proxy:
        worker_settings = through(fault_settings, proxy)
        scenario = Scenario("PostgreSQL outage for the worker", processes, session)
        await scenario.start(worker_settings=worker_settings)
        for _ in range(ROUNDS):
            await asyncio.sleep(LOAD_S)
            await proxy.cut()
            await asyncio.sleep(3)
            fault_at = scenario.now()
            await proxy.restore()
            await scenario.recovered(fault_at)
        await asyncio.sleep(LOAD_S)
        await scenario.finish()
    replays = processes.replays()
    assert replays.redelivered == 0, "an outage of the database must not requeue anything"
    assert "database unavailable" in scenario.workers[0].log()


async def test_broker_flaps_during_database_outage(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    """The worst case for the delivery limit: while the worker cannot commit, every broker
    connection loss counts one more delivery of every message it holds (RabbitMQ 3.x counts a
    closed channel's returns). More flaps than the former default limit of 5, and still
    nothing valid is dead-lettered."""
    flaps = 7
    async with proxy_to(POSTGRESQL_PORT) as proxy:
        worker_settings = through(fault_settings, proxy)
        scenario = Scenario("broker flaps x7 during a PostgreSQL outage", processes, session)
        await scenario.start(worker_settings=worker_settings)
        await asyncio.sleep(LOAD_S)
        await proxy.cut()
        for _ in range(flaps):
            await asyncio.sleep(1.0)  # the worker reconnects and receives its window again
            await rabbitmqctl(
                "close_all_connections", "-p", vhost_of(fault_settings), "cloudwallet fault test"
            )
        await asyncio.sleep(1.0)
        fault_at = scenario.now()
        await proxy.restore()
        await scenario.recovered(fault_at)
        await asyncio.sleep(LOAD_S)
        await scenario.finish()
    replays = processes.replays()
    assert replays.delivery_count_max > 5, replays
