"""Kafka client settings shared by every service.

Every producer uses the murmur2 partitioner, the one Java clients use, so an agency's Java
producer and Laneway put the same key on the same partition (librdkafka's default differs).
"""

from __future__ import annotations

from typing import Any

PARTITIONER = "murmur2_random"


def producer_config(bootstrap: str, *, transactional_id: str | None = None,
                    client_id: str = "laneway") -> dict[str, Any]:
    """An idempotent producer; transactional when `transactional_id` is given."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.idempotence": True,
        "acks": "all",
        "partitioner": PARTITIONER,
        "linger.ms": 2,
        "compression.type": "lz4",
    }
    if transactional_id is not None:
        config["transactional.id"] = transactional_id
        config["transaction.timeout.ms"] = 60_000
    return config


def consumer_config(bootstrap: str, group: str | None, *, client_id: str = "laneway",
                    read_committed: bool = True) -> dict[str, Any]:
    """A consumer that commits nothing by itself: offsets are committed with the work
    (in the producer's transaction, or after the database commit)."""
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed" if read_committed else "read_uncommitted",
        # range keeps partition p of co-partitioned topics on one member
        "partition.assignment.strategy": "range",
    }
    if group is not None:
        config["group.id"] = group
    return config
