"""The benchmarks find the stack's real broker and PostgreSQL and count their CPU
(scripts/stack/usage.py; the stand-ins' cases: tests/unit/test_stack_usage.py)."""

from __future__ import annotations

import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from scripts.stack import Connections, Settings
from scripts.stack.kafka import MAIN_CLASS
from scripts.stack.proc import cmdline
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.usage import ServerCpu, servers

pytestmark = pytest.mark.integration


def test_the_stacks_broker_and_postgres_are_found_and_their_cpu_counted(
        stack: Connections) -> None:
    broker, postgres = servers(Settings.from_env(), stack.kafka_bootstrap_servers,
                               stack.database_url)
    assert broker.pid is not None, broker.note
    assert postgres.pid is not None, postgres.note
    assert MAIN_CLASS in cmdline(broker.pid)
    usage = ServerCpu([broker, postgres])
    # PostgreSQL: a backend that burns CPU and ends (its time is then the postmaster's
    # reaped children's)
    with psycopg.connect(stack.database_url) as conn:
        conn.execute("SELECT count(*) FROM generate_series(1, 4000000)").fetchone()
    # the broker: a topic and records through it
    topic = unique_name("test.usage")
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    try:
        producer = Producer({"bootstrap.servers": stack.kafka_bootstrap_servers})
        for n in range(2000):
            producer.produce(topic, b"x" * 200, str(n).encode())
        assert producer.flush(30) == 0

        def counted() -> dict[str, float | None] | None:
            seconds = usage.seconds()
            return seconds if (seconds["postgres"] or 0) >= 0.1 and (seconds["broker"] or 0) > 0 \
                else None

        seconds = wait_until(counted, 30, 0.1, "the servers' CPU counted")
        assert set(seconds) == {"broker", "broker JIT", "postgres"}
    finally:
        admin.delete_topics([topic], operation_timeout=30)[topic].result(30)
