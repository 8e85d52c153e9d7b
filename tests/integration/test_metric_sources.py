"""Where the metrics that are not counted in the loops come from, against the real stack: the
consumer lag from a real consumer's librdkafka statistics, and the user tasks open / overdue
and the instances with an incident counted by their bounded queries on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry
from psycopg import sql
from psycopg_pool import ConnectionPool

from laneway.db import connect_kwargs
from laneway.kafka import consumer_config, producer_config
from laneway.service.shared_metrics import ServiceMetrics
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.audit.db import migrate as migrate_audit
from services.audit.metrics import InstanceMetrics
from services.worklist.db import migrate as migrate_worklist
from services.worklist.metrics import WorklistMetrics

RECORDS = 40


def test_consumer_lag_comes_from_the_consumers_statistics(stack: Connections) -> None:
    # behind: five records read and committed, then paused (polled only for the statistics);
    # caught up: the rest read, never committed
    topic, group = unique_name("lag-topic"), unique_name("lag-group")
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(
        timeout=30)
    producer = Producer(producer_config(stack.kafka_bootstrap_servers, client_id="lag-test"))
    for i in range(RECORDS):
        producer.produce(topic, f"record {i}".encode(), key=str(i).encode())
    assert producer.flush(30) == 0

    registry = CollectorRegistry()
    metrics = ServiceMetrics.of("worklist", registry)
    consumer = Consumer({**consumer_config(stack.kafka_bootstrap_servers, group,
                                           client_id="lag-test"),
                         **metrics.lag_config(group, interval_ms=200)})

    def lag() -> float | None:
        return registry.get_sample_value("laneway_worklist_consumer_lag_records",
                                         {"topic": topic, "group": group})

    try:
        consumer.subscribe([topic])
        consumed = 0

        def behind() -> bool:
            # five records, one at a time; then paused, polling only for the statistics
            nonlocal consumed
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                consumed += 1
                consumer.commit(msg, asynchronous=False)
                if consumed == 5:
                    consumer.pause(consumer.assignment())
            value = lag()
            return consumed >= 5 and value is not None and 0 < value <= RECORDS - consumed

        wait_until(behind, timeout=60, interval=0, message="a lag below what was produced")
        consumer.resume(consumer.assignment())

        def caught_up() -> bool:
            # read to the end without committing (as the engine, whose producer commits):
            # the lag follows the position
            consumer.consume(100, 0.2)
            return lag() == 0

        wait_until(caught_up, timeout=60, interval=0, message="the lag back at 0")
    finally:
        consumer.close()
        admin.delete_topics([topic])


@pytest.fixture
def schema_pool(stack: Connections) -> Iterator[ConnectionPool[Any]]:
    schema = unique_name("test_counts").replace("-", "_")
    with psycopg.connect(stack.database_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        with psycopg.connect(stack.database_url, **connect_kwargs(schema)) as conn:
            migrate_worklist(conn)
            migrate_audit(conn)
            conn.commit()
        pool: ConnectionPool[Any] = ConnectionPool(
            stack.database_url, min_size=1, max_size=2, kwargs=connect_kwargs(schema),
            open=False)
        pool.open(wait=True, timeout=30)
        try:
            yield pool
        finally:
            pool.close()
    finally:
        with psycopg.connect(stack.database_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def add_task(pool: ConnectionPool[Any], n: int, state: str, due: str | None) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO tasks (task_id, instance_id, task_key, process_id, version, "
            "element_id, state, created_at, due_at, last_record_id, last_partition, "
            "last_offset) VALUES (%s, 'i', %s, 'p', 1, 'task', %s, now(), "
            "now() + %s::interval, 'r', 0, %s)",
            (f"i:{n}", n, state, due, n))


def add_instance(pool: ConnectionPool[Any], n: int, status: str) -> None:
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO instances (instance_id, process_id, version, status, "
            "active_elements, variables, incidents, updated_at, last_partition, last_offset) "
            "VALUES (%s, 'p', 1, %s, '[]', '{}', '[]', now(), 0, %s)",
            (f"instance-{n}", status, n))


def test_tasks_open_and_overdue_are_counted_on_scrape(
        schema_pool: ConnectionPool[Any]) -> None:
    add_task(schema_pool, 1, "open", "-1 hour")      # overdue
    add_task(schema_pool, 2, "claimed", "-1 minute")  # overdue
    add_task(schema_pool, 3, "open", "1 day")
    add_task(schema_pool, 4, "open", None)
    add_task(schema_pool, 5, "completed", "-1 day")  # done: neither
    add_task(schema_pool, 6, "cancelled", None)
    registry = CollectorRegistry()
    metrics = WorklistMetrics(registry)
    assert registry.get_sample_value("laneway_worklist_user_tasks_open") is None

    metrics.watch_tasks(schema_pool)

    assert registry.get_sample_value("laneway_worklist_user_tasks_open") == 4
    assert registry.get_sample_value("laneway_worklist_user_tasks_overdue") == 2


def test_instances_with_an_incident_are_counted_on_scrape(
        schema_pool: ConnectionPool[Any]) -> None:
    for n, status in enumerate(("INCIDENT", "INCIDENT", "ACTIVE", "COMPLETED", "INCIDENT")):
        add_instance(schema_pool, n, status)
    registry = CollectorRegistry()
    InstanceMetrics(registry).watch_incidents(schema_pool)

    assert registry.get_sample_value("laneway_audit_incidents_open") == 3
