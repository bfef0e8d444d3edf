"""The worker process: one writer task per partition, sharing a database pool, a Redis
client and one broker connection."""

from __future__ import annotations

import asyncio
import logging

from shared import broker
from shared.database import check_deployment, create_pool
from shared.settings import Settings
from shared.status_cache import StatusCache, create_client
from worker.consumer import PartitionWriter

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Consume every partition until `stop` is set; a writer's programmer error stops them all
    (their unacknowledged messages return to the queues)."""
    pool = await create_pool(settings, size_max=settings.partition_count + 1)
    redis_client = create_client(
        settings.redis_url.get_secret_value(), connections_max=settings.redis_connections_max
    )
    connection = await broker.connect(settings, name="cloudwallet-worker")
    try:
        async with pool.acquire() as database_connection:
            await check_deployment(database_connection, settings)
        setup = await connection.channel()
        await broker.declare_topology(setup, settings)
        await setup.close()
        announce = await connection.channel(publisher_confirms=False)
        cache = StatusCache(
            redis_client,
            reference_ttl_s=settings.reference_ttl_s,
            status_ttl_s=settings.status_ttl_s,
        )
        writers = [
            PartitionWriter(partition, settings, pool, cache, connection, announce)
            for partition in range(settings.partition_count)
        ]
        log.info("worker consuming %s partitions", len(writers))
        async with asyncio.TaskGroup() as group:
            for writer in writers:
                group.create_task(writer.run(stop))
    finally:
        await connection.close()
        await redis_client.aclose()
        await pool.close()
