"""Bounded waits for a service's dependencies at start, and the one error family for them.

A service's `__main__` waits for Kafka, PostgreSQL and Redis before it starts work, each for at
most the startup timeout (`LANEWAY_STARTUP_TIMEOUT_S`), so a service started a moment before
its dependencies comes up by itself, and one whose dependency never comes exits with status 1
and a sentence naming what did not answer. Every such error is an `Unavailable`: retryable by
starting the process again later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import psycopg
import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from laneway.kafka import admin_config

__all__ = [
    "DatabaseUnavailable",
    "KafkaUnavailable",
    "RedisUnavailable",
    "Unavailable",
    "wait_for_kafka",
    "wait_for_postgres",
    "wait_for_redis",
]

_log = logging.getLogger("laneway.service")
_PAUSE_S = 0.5  # between attempts at start, not a test wait


class Unavailable(RuntimeError):
    """A dependency did not answer within the startup bound. Retryable: start again later."""


class KafkaUnavailable(Unavailable):
    """Kafka did not answer, or a topic the service needs is missing, within the bound."""


class DatabaseUnavailable(Unavailable):
    """PostgreSQL did not answer within the bound."""


class RedisUnavailable(Unavailable):
    """Redis did not answer within the bound."""


def wait_for_kafka(bootstrap: str, timeout_s: float, topics: Sequence[str] = ()
                   ) -> dict[str, int]:
    """Return once a broker answers and every one of `topics` exists with a leader on each
    partition: their partition counts. Raise KafkaUnavailable after `timeout_s`."""
    admin = AdminClient(admin_config(bootstrap))
    deadline = time.monotonic() + timeout_s
    problem = "no answer"
    while True:
        left = deadline - time.monotonic()
        try:
            meta = admin.list_topics(timeout=min(5.0, max(0.5, left)))
            missing = [t for t in topics if t not in meta.topics]
            leaderless = [t for t in topics if t in meta.topics and any(
                pm.leader < 0 for pm in meta.topics[t].partitions.values())]
            if not missing and not leaderless:
                return {t: len(meta.topics[t].partitions) for t in topics}
            problem = (f"missing topics {missing}" if missing
                       else f"partitions without a leader in {leaderless}")
        except KafkaException as exc:
            problem = str(exc)
        if time.monotonic() >= deadline:
            wanted = f" with topics {list(topics)}" if topics else ""
            raise KafkaUnavailable(f"Expected Kafka at {bootstrap}{wanted} to answer within "
                                   f"{timeout_s:.0f}s, but: {problem}")
        _log.info("waiting for Kafka: %s", problem)
        time.sleep(min(_PAUSE_S, max(0.0, deadline - time.monotonic())))


def wait_for_postgres(database_url: str, timeout_s: float) -> None:
    """Return once PostgreSQL accepts a connection and answers; raise DatabaseUnavailable
    after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while True:
        left = deadline - time.monotonic()
        try:
            # libpq counts connect_timeout in whole seconds, at least 2
            with psycopg.connect(database_url, connect_timeout=max(2, min(3, int(left)))) as conn:
                conn.execute("SELECT 1")
                return
        except psycopg.OperationalError as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise DatabaseUnavailable(
                f"Expected PostgreSQL to answer within {timeout_s:.0f}s, but it did not: {last}")
        time.sleep(min(_PAUSE_S, max(0.0, deadline - time.monotonic())))


def wait_for_redis(redis_url: str, timeout_s: float) -> None:
    """Return once Redis answers a PING; raise RedisUnavailable after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        while True:
            try:
                client.ping()
                return
            except redis.RedisError as exc:
                if time.monotonic() >= deadline:
                    raise RedisUnavailable(f"Expected Redis to answer within {timeout_s:.0f}s, "
                                           f"but it did not: {exc}") from None
            time.sleep(min(_PAUSE_S, max(0.0, deadline - time.monotonic())))
    finally:
        client.close()
