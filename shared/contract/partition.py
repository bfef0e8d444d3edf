"""The partition function: which queue, and so which single writer, owns a project."""

from __future__ import annotations

import zlib


def partition_of(project_id: str, partition_count: int) -> int:
    """`crc32(utf8(projectId)) mod P`: every transaction of a project lands on one partition."""
    return zlib.crc32(project_id.encode("utf-8")) % partition_count


def routing_key(partition: int) -> str:
    """The routing key of a partition on the transactions exchange."""
    return f"partition.{partition}"


def queue_name(partition: int) -> str:
    """The quorum queue of a partition."""
    return f"cloudwallet.transactions.{partition}"


# The first key of every partition's advisory lock in PostgreSQL; the partition is the second.
PARTITION_LOCK_SPACE = 0x6377
