"""Gateway processes sharing one port: with `http_reuse_port`, a second gateway binds the port
the first listens on and both serve; without it, the second refuses to start, and leaves no
connection open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest

from gateway.app import serve
from shared.settings import Settings
from tests.processes import free_port

READY_TIMEOUT_S = 10


async def wait_healthy(session: aiohttp.ClientSession, port: int) -> None:
    async with asyncio.timeout(READY_TIMEOUT_S):
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.05)


async def gateway_sessions(settings: Settings) -> int:
    """The gateways' PostgreSQL sessions open on the namespace's database now."""
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND application_name LIKE 'cloudwallet-gateway%'"
            )
        )
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def first_gateway(
    settings: Settings, session: aiohttp.ClientSession
) -> AsyncIterator[asyncio.Event]:
    """A gateway serving on `settings.http_port` until the block ends; yields its stop event,
    for a second gateway to share."""
    stop = asyncio.Event()
    first = asyncio.create_task(serve(settings, stop))
    try:
        await wait_healthy(session, settings.http_port)
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(first, READY_TIMEOUT_S)


async def test_two_gateways_share_a_port_with_reuse_port(
    migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    settings = migrated.model_copy(update={"http_port": free_port(), "http_reuse_port": True})
    async with first_gateway(settings, http_session) as stop:
        second = asyncio.create_task(serve(settings, stop))
        await asyncio.sleep(0.5)  # long enough to bind, or to fail binding
        assert not second.done()
        await wait_healthy(http_session, settings.http_port)
    await asyncio.wait_for(second, READY_TIMEOUT_S)


async def test_without_reuse_port_a_second_gateway_cannot_bind(
    migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    settings = migrated.model_copy(update={"http_port": free_port(), "http_reuse_port": False})
    async with first_gateway(settings, http_session) as stop:
        sessions = await gateway_sessions(migrated)
        with pytest.raises(OSError):
            await asyncio.wait_for(serve(settings, stop), READY_TIMEOUT_S)
        # The one that could not bind closed the connections its start-up opened.
        assert await gateway_sessions(migrated) == sessions
