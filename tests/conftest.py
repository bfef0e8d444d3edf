"""Fixtures every suite shares: settings of the test namespace and one HTTP client session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from shared.settings import Settings
from tests.support import ensure_topology, ensure_vhost, namespace_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return namespace_settings()


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> Settings:
    """The namespace's database migrated and its RabbitMQ virtual host present."""
    from shared.database import migrate

    ensure_vhost(settings)
    await ensure_topology(settings)
    await migrate(settings)
    return settings


@pytest.fixture(scope="session")
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
