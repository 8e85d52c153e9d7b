"""Several audit sinks in one process (services.audit.sink.SinkGroup), against the real Kafka
and PostgreSQL: the group's partitions are split between them, every event is written once,
numbered without gaps and hash-chained; one sink failing stops the others and the group
raises its error. And the writer's shortcut (a batch read after what it committed from the
same partition is not checked against the log) stays safe when another writer raced it.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any, cast

import psycopg
import pytest
from confluent_kafka import Consumer, Message, Producer
from prometheus_client import CollectorRegistry

from laneway.codec import encode_record
from laneway.consuming import Consumed, Polled
from laneway.engine.runner import Answers
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.records import Record
from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.audit.chain import verify_chain
from services.audit.db import connect
from services.audit.metrics import SinkMetrics
from services.audit.queries import rows
from services.audit.sink import AuditLogWriter, AuditSink, SinkGroup
from tests.integration.test_audit import SMALL, _create_topics, _drop, _engine_run, _migrated_schema

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _sink(stack: Connections, topics: Topics, schema: str, stop: threading.Event,
          metrics: SinkMetrics) -> AuditSink:
    return AuditSink(
        Consumer(consumer_config(stack.kafka_bootstrap_servers, f"{topics.prefix}audit")),
        RenewingProducer.from_config(producer_config(stack.kafka_bootstrap_servers)),
        lambda: connect(stack.database_url, schema), events_topic=topics.events,
        dlq_topic=topics.dlq, batch_size=200, poll_timeout_s=0.05, metrics=metrics, stop=stop)


@pytest.fixture
def place(stack: Connections) -> Iterator[tuple[Topics, str]]:
    topics = Topics(unique_name("audit-group") + ".")
    _create_topics(stack.kafka_bootstrap_servers, topics)
    schema = _migrated_schema(stack)
    yield topics, schema
    _drop(stack, topics, schema)


def test_two_sinks_split_the_partitions_and_write_every_event_once_in_chain(
        stack: Connections, place: tuple[Topics, str]) -> None:
    topics, schema = place
    run = _engine_run(SMALL)
    ids = [run.runner.start("small", {"n": n}, instance_id=str(uuid.uuid4()))
           for n in range(300)]
    run.runner.run(ids[0], Answers(auto_jobs=True))
    stop = threading.Event()
    metrics = [SinkMetrics(CollectorRegistry()) for _ in range(2)]
    group = SinkGroup([_sink(stack, topics, schema, stop, m) for m in metrics], stop)
    thread = threading.Thread(target=group.run, daemon=True)
    thread.start()

    def written() -> list[float]:
        return [m.rows_written._value.get() for m in metrics]

    try:
        # the group has split the 3 partitions between the two before any record arrives
        wait_until(lambda: all(m.loop.assigned_partitions._value.get() > 0 for m in metrics)
                   and sum(m.loop.assigned_partitions._value.get() for m in metrics) == 3,
                   60, 0.05, "both sinks assigned")
        producer = Producer(producer_config(stack.kafka_bootstrap_servers))
        for rec in run.records:
            producer.produce(topics.events, key=rec.instance_id.encode(),
                             value=encode_record(rec))
            producer.poll(0)
        assert producer.flush(30) == 0
        wait_until(lambda: sum(written()) >= len(run.records), 90, 0.05, "every row written")
    finally:
        stop.set()
        thread.join(30)
        group.close()
    assert not thread.is_alive()
    # each sink held some of the partitions (the topic has 3, the events of 300 instances)
    assert all(n > 0 for n in written()), written()
    assert sum(written()) == len(run.records)
    expected = {iid: [r.record_id for r in run.of(iid)] for iid in ids}
    with connect(stack.database_url, schema) as conn:
        stored = conn.execute("SELECT instance_id, array_agg(record_id ORDER BY seq), "
                              "count(*), min(seq), max(seq) FROM audit_log "
                              "GROUP BY instance_id").fetchall()
        assert len(stored) == len(ids)
        for iid, record_ids, n, low, high in stored:
            assert record_ids == expected[iid]
            assert (n, low, high) == (len(expected[iid]), 1, len(expected[iid]))
        bad = [iid for iid in ids if not verify_chain(rows(conn, iid)).ok]
    assert bad == []


def test_one_sink_failing_stops_the_group_with_its_error(
        stack: Connections, place: tuple[Topics, str]) -> None:
    topics, schema = place
    stop = threading.Event()
    healthy = _sink(stack, topics, schema, stop, SinkMetrics(CollectorRegistry()))
    failing = _sink(stack, topics, schema, stop, SinkMetrics(CollectorRegistry()))

    def broken() -> None:
        raise RuntimeError("the second sink broke")

    failing.run = broken  # type: ignore[method-assign]
    group = SinkGroup([healthy, failing], stop)
    errors: list[BaseException] = []

    def run() -> Any:
        try:
            group.run()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: not thread.is_alive(), 60, 0.05, "the group stopped")
    finally:
        stop.set()
        thread.join(30)
        group.close()
    assert [str(e) for e in errors] == ["the second sink broke"]
    assert stop.is_set()


def _polled(records: list[Record], first_offset: int) -> list[Polled]:
    # tracing is off in tests: the writer does not read the message
    return [Consumed(rec, cast(Message, None), "events", 0, first_offset + n)
            for n, rec in enumerate(records)]


def _write(conn: psycopg.Connection[Any], writer: AuditLogWriter, batch: list[Polled]) -> int:
    """As the loop does: one transaction, then `committed`."""
    with conn.transaction():
        n = writer.write(conn, batch)
    writer.committed(batch, n)
    return n


def test_a_batch_past_what_the_writer_committed_is_not_checked_and_a_race_is_refused(
        stack: Connections, place: tuple[Topics, str]) -> None:
    _, schema = place
    run = _engine_run(SMALL)
    ids = [run.runner.start("small", {"n": n}, instance_id=str(uuid.uuid4()))
           for n in range(4)]
    run.runner.run(ids[0], Answers(auto_jobs=True))
    records = run.records
    third = len(records) // 3
    first, second, rest = records[:third], records[third:2 * third], records[2 * third:]
    ours = AuditLogWriter(SinkMetrics(CollectorRegistry()))
    zombie = AuditLogWriter(SinkMetrics(CollectorRegistry()))
    with connect(stack.database_url, schema) as conn, \
            connect(stack.database_url, schema) as other:
        assert _write(conn, ours, _polled(first, 0)) == len(first)
        assert ours.checks_skipped == 0  # nothing committed from the partition yet: checked
        # a member that lost the partition writes the next records first
        assert _write(other, zombie, _polled(first, 0)) == 0
        assert _write(other, zombie, _polled(second, len(first))) == len(second)
        # ours, past what it committed, does not ask the log: the unique record id refuses
        with pytest.raises(psycopg.errors.UniqueViolation):
            _write(conn, ours, _polled(second, len(first)))
        assert ours.checks_skipped == 1
        # the loop resets the writer on the conflict and writes the batch again, checked
        ours.reset()
        assert _write(conn, ours, _polled(second, len(first))) == 0
        assert ours.checks_skipped == 1
        assert _write(conn, ours, _polled(rest, 2 * third)) == len(rest)
        assert ours.checks_skipped == 2
        stored = conn.execute("SELECT instance_id, array_agg(record_id ORDER BY seq), "
                              "count(*), max(seq) FROM audit_log "
                              "GROUP BY instance_id").fetchall()
        expected = {iid: [r.record_id for r in run.of(iid)] for iid in ids}
        assert {iid: (list(rids), n, high) for iid, rids, n, high in stored} == {
            iid: (rids, len(rids), len(rids)) for iid, rids in expected.items()}
        assert [iid for iid in ids if not verify_chain(rows(conn, iid)).ok] == []
