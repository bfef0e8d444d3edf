"""The broker taken away at the TCP level, under load, from the gateway and the worker at once
(one proxy in front of RabbitMQ for both): cut three times (both sides aborted, no
Connection.Close) and stalled (every byte held) past the heartbeat. Every answer is 202, 409 or
503 with Retry-After, every process stays alive, and nothing accepted is lost or applied twice.
Also a writer's own failure: an unexpected error ends that writer alone, and a new one takes
over; a broken invariant ends the process with a non-zero exit code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from shared.ops.cli import EXIT_INVARIANT
from shared.settings import Settings
from tests.faults.conftest import LOAD_SCALE, ROUNDS, SOAK
from tests.faults.processes import Processes
from tests.faults.scenario import Scenario
from tests.proxy import RABBITMQ_PORT, TcpProxy, proxy_to, through
from worker.failpoints import FAILPOINT_WRITER_ERRORS_MAX

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900 if SOAK else 150)]
LOAD_S = 1.5 * LOAD_SCALE  # load before the first fault, and between faults
CUTS = 3
CUT_S = 1.0  # how long the broker stays away at each cut
# Past RabbitMQ's heartbeat timeout (it closes its side after two missed heartbeats), and past
# aiormq's ((heartbeat + 1) x 3 s without a frame), where the client gives up by itself.
STALL_HEARTBEATS = (2.5, 5.5)
WRITER_RESTART_BACKOFF_MS = 200
WRITER_ENDED_LINE = "the writer ended (RuntimeError('fail point: a writer error"


def assert_alive(scenario: Scenario) -> None:
    assert scenario.gateway is not None
    processes = [scenario.gateway, *scenario.workers]
    exited = {process.label: process.popen.returncode for process in processes}
    assert all(process.popen.poll() is None for process in processes), exited


def assert_answered(scenario: Scenario) -> None:
    """The clients reach the gateway directly: a connection error would be a request that the
    gateway dropped without an answer. (Any status but 202, 409, 429 or 503 with Retry-After
    already fails the load.)"""
    assert scenario.load.counts.connection_errors == 0, scenario.load.counts


async def run_with_broker_faults(
    scenario: Scenario,
    settings: Settings,
    rounds: int,
    fault: Callable[[TcpProxy], Awaitable[None]],
) -> None:
    """Run `scenario` with its gateway and workers reaching RabbitMQ through one proxy, and
    `fault` on that proxy `rounds` times under load; the proxy is closed once it has finished."""
    async with proxy_to(RABBITMQ_PORT) as proxy:
        proxied = through(settings, proxy)
        await scenario.start(gateway_settings=proxied, worker_settings=proxied)
        for _ in range(rounds):
            await asyncio.sleep(LOAD_S)
            fault_at = scenario.now()
            await fault(proxy)
            await scenario.recovered(fault_at)
        await asyncio.sleep(LOAD_S)
        assert_alive(scenario)
        await scenario.finish()


async def test_broker_cut_three_times_under_load(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    async def cut(proxy: TcpProxy) -> None:
        await proxy.cut()
        await asyncio.sleep(CUT_S)
        await proxy.restore()

    scenario = Scenario(f"broker cut x{CUTS} at the TCP level under load", processes, session)
    await run_with_broker_faults(scenario, fault_settings, CUTS * ROUNDS, cut)
    assert_alive(scenario)
    assert_answered(scenario)
    assert scenario.load.counts.unavailable_503 > 0, "no submission met the cuts"


@pytest.mark.parametrize("heartbeats", STALL_HEARTBEATS)
async def test_broker_stalled_past_the_heartbeat_under_load(
    processes: Processes,
    session: aiohttp.ClientSession,
    fault_settings: Settings,
    heartbeats: float,
) -> None:
    stall_s = fault_settings.amqp_heartbeat_s * heartbeats

    async def stall(proxy: TcpProxy) -> None:
        proxy.pause()
        await asyncio.sleep(stall_s)
        proxy.resume()

    scenario = Scenario(f"broker stalled {stall_s:.0f} s under load", processes, session)
    await run_with_broker_faults(scenario, fault_settings, ROUNDS, stall)
    assert_alive(scenario)
    assert_answered(scenario)
    assert scenario.load.counts.unavailable_503 > 0, "no submission met the stall"


async def test_a_writer_error_ends_that_writer_only(
    processes: Processes, session: aiohttp.ClientSession, fault_settings: Settings
) -> None:
    """The fail point raises an unexpected error in the first writers right after a commit:
    each ends (its batch unacknowledged), the process lives on, and after a growing backoff a
    new writer finds the batch applied and carries on."""
    settings = fault_settings.model_copy(
        update={"writer_restart_backoff_ms": WRITER_RESTART_BACKOFF_MS}
    )
    scenario = Scenario("unexpected writer errors (fail point)", processes, session)
    await scenario.start(worker_settings=settings, CLOUDWALLET_FAILPOINT="writer-error")
    await asyncio.sleep(LOAD_S)
    await scenario.finish()
    log = scenario.workers[0].log()
    assert log.count(WRITER_ENDED_LINE) == FAILPOINT_WRITER_ERRORS_MAX, log
    assert "a new one in 200 ms (failure 1 in a row)" in log
    assert "a new one in 400 ms (failure 2 in a row)" in log
    assert "Traceback" not in log  # one line per failure
    assert_alive(scenario)


async def test_a_broken_invariant_stops_the_worker_with_a_non_zero_exit(
    processes: Processes, session: aiohttp.ClientSession
) -> None:
    """Its batch is committed but never acknowledged: the next worker finds it applied."""
    scenario = Scenario("broken invariant stops the worker (fail point)", processes, session)
    await scenario.start()
    await scenario.workers[-1].stop()  # let a backlog build up for the breaking worker
    await asyncio.sleep(LOAD_S)
    breaking = await scenario.add_worker(ready=False, CLOUDWALLET_FAILPOINT="break-invariant")
    assert await breaking.wait_exit() == EXIT_INVARIANT
    assert "a ledger invariant is broken" in breaking.log()
    fault_at = scenario.now()
    await scenario.add_worker()
    await scenario.recovered(fault_at)
    await scenario.finish()
    assert processes.replays().already_applied > 0
