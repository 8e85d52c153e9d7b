"""The service kit against the real stack: the bounded waits, and the consume-and-project
loop (laneway/consuming.py ProjectionLoop) with a real topic, dead-letter topic, consumer
group and PostgreSQL schema per test."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from laneway.codec import encode_record, read_dead_letter_headers
from laneway.consuming import Consumed, DeadLetterProducer, ProjectionLoop
from laneway.db import connect
from laneway.kafka import RenewingProducer, consumer_config, producer_config
from laneway.records import Command, Record, command
from laneway.service import KafkaUnavailable, wait_for_kafka, wait_for_postgres, wait_for_redis
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from tests.kafka_fakes import FatalProducer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


# -- the waits ------------------------------------------------------------------------------


def test_the_waits_return_once_the_stacks_services_answer(stack: Connections) -> None:
    bootstrap = stack.kafka_bootstrap_servers
    topic = unique_name("test.kit.wait")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    try:
        # then Kafka answers with the partition count of the topic asked for
        assert wait_for_kafka(bootstrap, 30, [topic]) == {topic: 3}
        wait_for_postgres(stack.database_url, 30)
        wait_for_redis(stack.redis_url, 30)
    finally:
        admin.delete_topics([topic])


def test_waiting_for_a_topic_that_does_not_exist_ends_at_the_bound_naming_it(
        stack: Connections) -> None:
    missing = unique_name("test.kit.missing")

    with pytest.raises(KafkaUnavailable, match=f"missing topics \\['{missing}'\\]"):
        wait_for_kafka(stack.kafka_bootstrap_servers, 2.0, [missing])


# -- the loop -------------------------------------------------------------------------------


@dataclass
class Setup:
    bootstrap: str
    database_url: str
    topic: str
    dlq: str
    group: str
    schema: str

    def connect(self) -> psycopg.Connection[Any]:
        return connect(self.database_url, self.schema)

    def rows(self) -> set[str]:
        with self.connect() as conn:
            return {r[0] for r in conn.execute("SELECT record_id FROM kit_rows")}

    def committed(self) -> int:
        consumer = Consumer(consumer_config(self.bootstrap, self.group))
        try:
            [tp] = consumer.committed([TopicPartition(self.topic, 0)], timeout=10)
            return int(tp.offset)
        finally:
            consumer.close()

    def loop(self, handle: Any, stop: threading.Event, **kwargs: Any) -> ProjectionLoop[Record]:
        consumer = Consumer(consumer_config(self.bootstrap, self.group))
        dead = DeadLetterProducer(RenewingProducer.from_config(producer_config(self.bootstrap)),
                                  self.dlq)
        return ProjectionLoop(consumer, [self.topic], handle, kwargs.pop("connect", self.connect),
                              dead, poll_timeout_s=0.1, stop=stop, name="test projection",
                              **kwargs)

    def dead_letters(self, count: int) -> list[Message]:
        consumer = Consumer(consumer_config(self.bootstrap, unique_name("test.kit.read")))
        consumer.subscribe([self.dlq])
        got: list[Message] = []
        try:
            wait_until(lambda: got.extend(consumer.consume(10, 0.2)) or len(got) >= count,
                       timeout=30, message=f"{count} dead letters")
        finally:
            consumer.close()
        return got


@pytest.fixture
def setup(stack: Connections) -> Iterator[Setup]:
    bootstrap = stack.kafka_bootstrap_servers
    s = Setup(bootstrap, stack.database_url, unique_name("test.kit.in"),
              unique_name("test.kit.dlq"), unique_name("test.kit.group"),
              unique_name("test_kit").replace(".", "_").replace("-", "_").lower())
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(s.topic, 1, 1), NewTopic(s.dlq, 1, 1)]).values():
        future.result(30)
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(s.schema)))
        conn.execute(sql.SQL("CREATE TABLE {}.kit_rows (record_id text PRIMARY KEY,"
                             " n integer NOT NULL CHECK (n >= 0))").format(
                                 sql.Identifier(s.schema)))
    try:
        yield s
    finally:
        admin.delete_topics([s.topic, s.dlq])
        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(s.schema)))


def _record(record_id: str, n: int) -> bytes:
    return encode_record(command(Command.START_INSTANCE, "i-1", {"n": n},
                                 record_id=record_id, timestamp=1))


def _produce(setup: Setup, values: Sequence[bytes]) -> None:
    producer = Producer(producer_config(setup.bootstrap))
    for value in values:
        producer.produce(setup.topic, key=b"i-1", value=value)
    assert producer.flush(30) == 0


class Rows:
    """A handler writing one row per record, counting the records it was given."""

    def __init__(self) -> None:
        self.tries: Counter[str] = Counter()

    def __call__(self, conn: psycopg.Connection[Any], items: Sequence[Consumed[Record]]) -> int:
        written = 0
        for item in items:
            self.tries[item.record.record_id] += 1
            written += conn.execute(
                "INSERT INTO kit_rows (record_id, n) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (item.record.record_id, item.record.value["n"])).rowcount
        return written


def _running(loop: ProjectionLoop[Record]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            loop.run()
        except BaseException as exc:
            errors.append(exc)
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def test_a_refused_record_is_dead_lettered_after_bounded_tries_and_the_rest_commit(
        setup: Setup) -> None:
    # given two good records, one the database refuses (n < 0) and bytes that are no record
    _produce(setup, [_record("ok-1", 1), _record("bad", -1), b"not a record", _record("ok-2", 2)])
    handle, stop = Rows(), threading.Event()
    loop = setup.loop(handle, stop, max_attempts=3)

    # when the loop runs
    thread, errors = _running(loop)
    try:
        wait_until(lambda: setup.committed() == 4, timeout=60, message="offset 4 committed")
    finally:
        stop.set()
        thread.join(30)

    # then the good records are written, the two others are on the dead-letter topic with
    # why and where from, and the refused one was tried once in the batch and 3 times alone
    assert errors == []
    assert setup.rows() == {"ok-1", "ok-2"}
    headers = sorted((read_dead_letter_headers(m.headers() or []) for m in
                      setup.dead_letters(2)), key=lambda h: int(h["offset"]))
    assert [(h["offset"], h["topic"]) for h in headers] == [("1", setup.topic),
                                                            ("2", setup.topic)]
    assert "CheckViolation" in headers[0]["exception"]
    assert headers[1]["reason"] != "unhandled"  # a decode error says which
    assert handle.tries["bad"] == 1 + 3
    assert loop.dead_lettered == 2


def test_offsets_are_committed_only_after_the_handlers_transaction_commits(
        setup: Setup) -> None:
    # given two records and a handler that writes them, then fails (a bug, not a refusal)
    _produce(setup, [_record("a", 1), _record("b", 2)])

    def failing(conn: psycopg.Connection[Any], items: Sequence[Consumed[Record]]) -> int:
        Rows()(conn, items)
        raise RuntimeError("the handler broke")

    stop = threading.Event()
    thread, errors = _running(setup.loop(failing, stop))
    thread.join(60)

    # then the loop ends with the error, nothing is written (rolled back) or committed
    assert [str(e) for e in errors] == ["the handler broke"]
    assert setup.rows() == set()
    assert setup.committed() < 0  # no committed offset for the group

    # when a loop with a working handler takes over the group, it reads the batch again
    thread, errors = _running(setup.loop(Rows(), stop))
    try:
        wait_until(lambda: setup.committed() == 2, timeout=60, message="offset 2 committed")
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    assert setup.rows() == {"a", "b"}


def test_a_database_that_does_not_answer_keeps_the_batch_until_it_does(setup: Setup) -> None:
    # given a record and a database that refuses the first two connections
    _produce(setup, [_record("kept", 1)])
    attempts: list[int] = []

    def flaky_connect() -> psycopg.Connection[Any]:
        attempts.append(1)
        if len(attempts) <= 2:
            raise psycopg.OperationalError("connection refused")
        return setup.connect()

    stop = threading.Event()
    loop = setup.loop(Rows(), stop, connect=flaky_connect)
    thread, errors = _running(loop)
    try:
        wait_until(lambda: setup.committed() == 1, timeout=60, message="offset 1 committed")
    finally:
        stop.set()
        thread.join(30)

    # then the record is written once the database answers, and nothing is dead-lettered
    assert errors == []
    assert setup.rows() == {"kept"}
    assert len(attempts) == 3
    assert loop.dead_lettered == 0


def test_health_names_the_record_while_the_database_keeps_it_from_advancing(
        setup: Setup) -> None:
    # given a record and a database address where nothing answers (a real refused connection)
    _produce(setup, [_record("held", 1)])
    down = threading.Event()
    down.set()

    def connect_when_up() -> psycopg.Connection[Any]:
        if down.is_set():
            return connect("postgresql://laneway:laneway@127.0.0.1:1/laneway", setup.schema)
        return setup.connect()

    stop = threading.Event()
    loop = setup.loop(Rows(), stop, connect=connect_when_up, stall_s=1.0)
    thread, errors = _running(loop)
    try:
        # then /health's check names the loop and the record it cannot get past, though the
        # loop itself is busy retrying
        problem = wait_until(loop.health, timeout=30, message="an unhealthy loop")
        assert problem.startswith(f"the test projection has kept failing at {setup.topic}[0]@0")
        # and once the database answers, the record is written and the loop is healthy
        down.clear()
        wait_until(lambda: setup.committed() == 1, timeout=60, message="offset 1 committed")
        wait_until(lambda: loop.health() is None, timeout=30, message="a healthy loop")
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    assert setup.rows() == {"held"}


def test_a_dead_letter_refused_by_a_fatal_producer_lands_through_a_new_one(
        setup: Setup) -> None:
    # given a dead-letter producer gone fatal, which the kit may renew
    renewing = RenewingProducer(lambda: Producer(producer_config(setup.bootstrap)),
                                FatalProducer({"bootstrap.servers": setup.bootstrap}))
    _produce(setup, [b"not a record"])
    consumer = Consumer(consumer_config(setup.bootstrap, unique_name("test.kit.read")))
    consumer.subscribe([setup.topic])
    try:
        polled: list[Message] = []
        wait_until(lambda: polled.extend(consumer.consume(1, 0.2)) or polled, timeout=30,
                   message="the record")
    finally:
        consumer.close()

    # when it is dead-lettered
    DeadLetterProducer(renewing, setup.dlq).send([(polled[0], ValueError("no record"))])

    # then it is on the dead-letter topic, sent by the one new producer
    [letter] = setup.dead_letters(1)
    assert letter.value() == b"not a record"
    assert renewing.renewals == 1


def _fenced_producer(bootstrap: str) -> Producer:
    """A transactional producer fenced by a newer one with its transactional.id: Kafka's own
    fatal error (PRODUCER_FENCED), not a simulated one. It is left inside a transaction, so
    its next send meets the fence."""
    transactional_id = unique_name("test.kit.fenced")
    fenced = Producer(producer_config(bootstrap, transactional_id=transactional_id))
    fenced.init_transactions(30)
    fenced.begin_transaction()
    newer = Producer(producer_config(bootstrap, transactional_id=transactional_id))
    newer.init_transactions(30)
    return fenced


def test_a_dead_letter_refused_by_a_really_fenced_producer_lands_through_a_new_one(
        setup: Setup) -> None:
    renewing = RenewingProducer(lambda: Producer(producer_config(setup.bootstrap)),
                                _fenced_producer(setup.bootstrap))
    _produce(setup, [b"not a record either"])
    consumer = Consumer(consumer_config(setup.bootstrap, unique_name("test.kit.read")))
    consumer.subscribe([setup.topic])
    try:
        polled: list[Message] = []
        wait_until(lambda: polled.extend(consumer.consume(1, 0.2)) or polled, timeout=30,
                   message="the record")
    finally:
        consumer.close()

    DeadLetterProducer(renewing, setup.dlq).send([(polled[0], ValueError("no record"))])

    [letter] = setup.dead_letters(1)
    assert letter.value() == b"not a record either"
    assert renewing.renewals == 1


def test_a_really_fenced_producer_is_renewed_by_the_reports_poll_and_by_a_refused_send(
        setup: Setup) -> None:
    # given a renewing producer whose producer is fenced, with a record under way
    fenced = _fenced_producer(setup.bootstrap)
    renewing = RenewingProducer(lambda: Producer(producer_config(setup.bootstrap)), fenced)
    fenced.produce(setup.dlq, b"lost")

    # when the thread that serves the reports polls: it meets the fence, renews, and goes on
    # (an exception out of poll would end a report thread, and every send would then wait)
    wait_until(lambda: renewing.poll(0.1) >= 0 and renewing.renewals == 1, timeout=30,
               message="renewed by the poll")

    # then the broken producer refuses the next record with librdkafka's plain _FATAL, and
    # that too counts as fatal (the producer was already replaced: nothing more happens)
    with pytest.raises(KafkaException) as refused:
        fenced.produce(setup.dlq, b"refused")
    assert renewing.renew_if_fatal(fenced, refused.value)
    assert renewing.renewals == 1
    renewing.current.produce(setup.dlq, b"through the new one")
    assert renewing.flush(30) == 0
    assert [m.value() for m in setup.dead_letters(1)] == [b"through the new one"]
