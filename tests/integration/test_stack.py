"""The local stack behaves as the real thing: Kafka transactions, PostgreSQL, Redis, topics."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
import redis
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient

# confluent_kafka.admin imports these without re-exporting them (mypy strict would refuse).
from confluent_kafka.admin._config import ConfigResource
from confluent_kafka.admin._resource import ResourceType
from confluent_kafka.cimpl import NewTopic

from scripts.stack import Connections, Settings
from scripts.stack.testing import unique_name, wait_until

# The first test may install, fetch and start everything on a fresh machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


@pytest.fixture
def admin(stack: Connections) -> AdminClient:
    return AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})


@pytest.fixture
def topic(stack: Connections, admin: AdminClient) -> Iterator[str]:
    name = unique_name("test.stack")
    futures = admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    futures[name].result(timeout=30)
    yield name
    admin.delete_topics([name], operation_timeout=30)[name].result(timeout=30)


def _consume_all(
    stack: Connections, topic: str, isolation: str, expected: int
) -> list[tuple[str, int]]:
    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka_bootstrap_servers,
            "group.id": unique_name("test.group"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
        }
    )
    seen: list[tuple[str, int]] = []
    try:
        consumer.subscribe([topic])

        def got_all() -> bool:
            msg = consumer.poll(0.5)
            if msg is not None:
                err = msg.error()
                if err is not None and err.code() != KafkaError._PARTITION_EOF:
                    raise AssertionError(f"consume error: {err}")
                value = msg.value()
                if err is None and value is not None:
                    seen.append((value.decode(), msg.offset() or 0))
            return len(seen) >= expected

        wait_until(got_all, timeout=60, interval=0, message=f"{expected} records on {topic}")
        # Nothing else arrives after the expected records (no aborted record slips through).
        extra = consumer.poll(1.0)
        if extra is not None and extra.error() is None and extra.value() is not None:
            value = extra.value()
            assert value is not None
            seen.append((value.decode(), extra.offset() or 0))
    finally:
        consumer.close()
    return seen


def test_read_committed_consumer_sees_only_committed_transactions(
    stack: Connections, topic: str
) -> None:
    producer = Producer(
        {
            "bootstrap.servers": stack.kafka_bootstrap_servers,
            "transactional.id": unique_name("test.tx"),
            "enable.idempotence": True,
        }
    )
    producer.init_transactions(30)

    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, key=b"instance-1", value=f"aborted-{i}".encode())
    producer.flush(30)
    producer.abort_transaction(30)

    producer.begin_transaction()
    for i in range(3):
        producer.produce(topic, key=b"instance-1", value=f"committed-{i}".encode())
    producer.commit_transaction(30)

    committed = _consume_all(stack, topic, "read_committed", expected=3)
    assert [v for v, _ in committed] == ["committed-0", "committed-1", "committed-2"]

    # The aborted records were really written: an uncommitted reader sees all six.
    everything = _consume_all(stack, topic, "read_uncommitted", expected=6)
    assert sorted(v for v, _ in everything) == sorted(
        [f"aborted-{i}" for i in range(3)] + [f"committed-{i}" for i in range(3)]
    )
    # Committed records come after the aborted ones (and their abort marker) in the log.
    assert min(o for _, o in committed) > max(o for v, o in everything if v.startswith("aborted"))


def test_postgres_accepts_connections_and_round_trips_rows(stack: Connections) -> None:
    schema = unique_name("test_stack").replace("-", "_")
    with psycopg.connect(stack.database_url, connect_timeout=10) as conn:
        try:
            conn.execute(f'CREATE SCHEMA "{schema}"')
            conn.execute(f'CREATE TABLE "{schema}".items (id int PRIMARY KEY, name text NOT NULL)')
            conn.execute(
                f'INSERT INTO "{schema}".items VALUES (%s, %s), (%s, %s)', (1, "one", 2, "two")
            )
            conn.commit()
            rows = conn.execute(f'SELECT id, name FROM "{schema}".items ORDER BY id').fetchall()
            assert rows == [(1, "one"), (2, "two")]
        finally:
            conn.rollback()
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            conn.commit()


def test_postgres_keeps_each_transactions_commit_time(stack: Connections) -> None:
    # benchmarks.visibility_bench reads when a row became visible from it (docs/local-stack.md)
    if Settings.from_env().external_database_url:
        pytest.skip("DATABASE_URL names a server this stack did not start")
    with psycopg.connect(stack.database_url, connect_timeout=10) as conn:
        conn.execute("CREATE TEMP TABLE committed_at (k int)")
        conn.commit()
        conn.execute("INSERT INTO committed_at VALUES (1)")
        # a statement after the insert, in the same transaction: the time kept is the
        # commit's, so it is not before this one's clock
        later = conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()
        conn.commit()
        committed = time.time()
        row = conn.execute("SELECT extract(epoch FROM pg_xact_commit_timestamp(xmin)) "
                           "FROM committed_at").fetchone()
    assert later is not None
    assert row is not None
    assert row[0] is not None, "track_commit_timestamp is off"
    assert float(later[0]) <= float(row[0]) <= committed + 0.05


def test_redis_set_get_and_expiry(stack: Connections) -> None:
    client = redis.Redis.from_url(stack.redis_url, socket_timeout=5)
    try:
        key = unique_name("test:stack")
        assert client.set(key, b"lease-holder", px=400)
        assert client.get(key) == b"lease-holder"
        assert 0 < client.pttl(key) <= 400
        wait_until(lambda: client.get(key) is None, timeout=10, message="key expiry")
        assert client.exists(key) == 0
    finally:
        client.close()


def test_laneway_topics_exist_with_partitions_and_cleanup_policy(
    stack: Connections, admin: AdminClient
) -> None:
    p, n = stack.topic_prefix, stack.partitions
    expected = {
        f"{p}commands": n,
        f"{p}events": n,
        f"{p}state": n,
        f"{p}messages": n,
        f"{p}definitions": 1,
        f"{p}dlq": 1,
        **{f"{p}jobs.{t}": n for t in stack.job_types},
    }
    topics = admin.list_topics(timeout=30).topics
    for name, partitions in expected.items():
        assert name in topics, f"missing topic {name}"
        assert len(topics[name].partitions) == partitions, name

    resources = [ConfigResource(ResourceType.TOPIC, name) for name in expected]
    policies: dict[str, str | None] = {}
    for resource, future in admin.describe_configs(resources).items():
        policies[resource.name] = future.result(timeout=30)["cleanup.policy"].value
    assert policies[f"{p}state"] == "compact"
    assert policies[f"{p}definitions"] == "compact"
    for name in (f"{p}commands", f"{p}events", f"{p}messages", f"{p}dlq"):
        assert policies[name] == "delete", name
