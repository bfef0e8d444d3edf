"""Fixtures every suite shares: settings of the test namespace and one HTTP client session."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from shared.settings import Settings
from tests.support import VhostMissing, ensure_topology, ensure_vhost, namespace_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return namespace_settings()


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> Settings:
    """The namespace's database migrated and its RabbitMQ virtual host present."""
    from shared.database import migrate
    from shared.services import POSTGRESQL, RABBITMQ, ServiceUnreachable, reaching

    try:
        with reaching(RABBITMQ, settings.amqp_url.get_secret_value()):
            await asyncio.to_thread(ensure_vhost, settings)
            await ensure_topology(settings)
        with reaching(POSTGRESQL, settings.database_url.get_secret_value()):
            await migrate(settings)
    except (ServiceUnreachable, VhostMissing) as error:
        # One line for a missing service, instead of the same error for every test.
        pytest.exit(f"cloudwallet tests: {error}")
    return settings


@pytest.fixture(scope="session")
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
