"""Gateway processes sharing one port: with `http_reuse_port`, a second gateway binds the port
the first listens on and both serve; without it, the second refuses to start."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from gateway.app import serve
from shared.settings import Settings

READY_TIMEOUT_S = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


async def test_two_gateways_share_a_port_with_reuse_port(
    migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    settings = migrated.model_copy(update={"http_port": free_port(), "http_reuse_port": True})
    stop = asyncio.Event()
    first = asyncio.create_task(serve(settings, stop))
    try:
        await wait_healthy(http_session, settings.http_port)
        second = asyncio.create_task(serve(settings, stop))
        await asyncio.sleep(0.5)  # long enough to bind, or to fail binding
        assert not second.done()
        await wait_healthy(http_session, settings.http_port)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(first, return_exceptions=True), READY_TIMEOUT_S)
    await asyncio.wait_for(second, READY_TIMEOUT_S)


async def test_without_reuse_port_a_second_gateway_cannot_bind(
    migrated: Settings, http_session: aiohttp.ClientSession
) -> None:
    settings = migrated.model_copy(update={"http_port": free_port(), "http_reuse_port": False})
    stop = asyncio.Event()
    first = asyncio.create_task(serve(settings, stop))
    try:
        await wait_healthy(http_session, settings.http_port)
        with pytest.raises(OSError):
            await asyncio.wait_for(serve(settings, stop), READY_TIMEOUT_S)
    finally:
        stop.set()
        await asyncio.wait_for(first, READY_TIMEOUT_S)
