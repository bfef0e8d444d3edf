"""The gateway's single connection (`gateway/db.py` SingleConnection) on the real PostgreSQL:
callers at the same moment take turns on one session rather than each opening one (which
left all but the last unclosed) or sharing one statement slot (which failed them with
"another operation is in progress"); after `close` no session of it is left."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from gateway.db import SingleConnection
from shared.errors import DatabaseUnavailable
from shared.settings import Settings

CALLERS = 20


async def sessions_named(settings: Settings, application_name: str) -> int:
    connection = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                application_name,
            )
        )
    finally:
        await connection.close()


async def test_callers_at_once_take_turns_on_one_session(migrated: Settings) -> None:
    name = f"cloudwallet-test-{uuid.uuid4().hex[:12]}"
    single = SingleConnection(migrated, application_name=name, timeout_s=5.0)
    try:
        answers = await asyncio.gather(
            *(single.fetch("SELECT pg_backend_pid() AS pid") for _ in range(CALLERS))
        )
        assert len({rows[0]["pid"] for rows in answers}) == 1
        assert await sessions_named(migrated, name) == 1
    finally:
        await single.close()
    assert await sessions_named(migrated, name) == 0


async def test_a_call_after_close_is_refused_and_opens_nothing(migrated: Settings) -> None:
    name = f"cloudwallet-test-{uuid.uuid4().hex[:12]}"
    single = SingleConnection(migrated, application_name=name, timeout_s=5.0)
    await single.fetch("SELECT 1")
    await single.close()
    with pytest.raises(DatabaseUnavailable, match="stopping"):
        await single.fetch("SELECT 1")
    assert await sessions_named(migrated, name) == 0
