"""The gateway application and a worker running in the test process, against the real
PostgreSQL, RabbitMQ and Redis; each test gets its own tenant and project."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from gateway.app import create_app
from shared.settings import Settings
from tests.support import Api, Ledger, create_tenant_key, new_ledger, serving
from worker.main import run_worker


@pytest.fixture(scope="session")
async def gateway_url(migrated: Settings) -> AsyncIterator[str]:
    async with serving(create_app(migrated)) as url:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(migrated, stop))
        yield url
        stop.set()
        await asyncio.wait_for(worker, timeout=30)


@pytest.fixture
async def api(gateway_url: str, http_session: aiohttp.ClientSession, migrated: Settings) -> Api:
    return Api(http_session, gateway_url, await create_tenant_key(migrated))


@pytest.fixture
async def other_api(
    gateway_url: str, http_session: aiohttp.ClientSession, migrated: Settings
) -> Api:
    """A second tenant."""
    return Api(http_session, gateway_url, await create_tenant_key(migrated))


@pytest.fixture
async def ledger(api: Api) -> Ledger:
    return await new_ledger(api)
