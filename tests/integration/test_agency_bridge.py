"""The agency bridge against the real Kafka (docs/agencies.md): a partner's envelope becomes one
PUBLISH_MESSAGE on this agency's `messages` topic as the agent `agency:<partner>`; what a
partner may not send (an agency that is not configured, a record that is no envelope) goes to
the dead-letter topic with the reason; a bridge that starts again after a crash re-reads
uncommitted records and publishes them under the same message id."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from prometheus_client import CollectorRegistry

from laneway.agencies import Envelope, encode_envelope
from laneway.codec import decode_record, read_dead_letter_headers
from laneway.kafka import consumer_config, producer_config
from laneway.records import Principal, PrincipalKind
from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until
from services.bridge.bridge import Bridge, BridgeMetrics
from services.bridge.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CLERK = Principal(PrincipalKind.HUMAN, "clerk@a.example", ("clerk",), {})


class World:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        base = unique_name("t-bridge")
        self.prefix = base + "."
        self.receive = f"{base}.agency.a.b"
        self.topics = Topics(self.prefix)
        self.names = [self.topics.messages, self.topics.dlq, self.receive,
                      f"{base}.agency.b.a"]
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(n, num_partitions=2, replication_factor=1)
                                           for n in self.names],
                                          operation_timeout=30).values():
            future.result(timeout=30)
        wait_until(lambda: set(self.names) <= set(admin.list_topics(timeout=5).topics), 30,
                   message="topics visible")
        self.admin = admin

    def settings_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWAY_")}
        env.update(KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, LANEWAY_TOPIC_PREFIX=self.prefix,
                   LANEWAY_AGENCY_NAME="b",
                   LANEWAY_AGENCY_PARTNERS=f"a:{self.names[3]}:{self.receive}",
                   LANEWAY_BRIDGE_POLL_S="0.05", LANEWAY_BRIDGE_SESSION_TIMEOUT_MS="6000")
        return env

    def produce(self, records: list[tuple[bytes, bytes]]) -> None:
        producer = Producer(producer_config(self.bootstrap))
        for key, value in records:
            producer.produce(self.receive, key=key, value=value)
        assert producer.flush(30) == 0

    def read(self, topic: str) -> list[tuple[bytes | None, list[tuple[str, bytes]]]]:
        consumer = Consumer({**consumer_config(self.bootstrap, unique_name("t-read")),
                             "log_level": 0})
        consumer.assign([TopicPartition(topic, p, 0) for p in range(2)])
        out: list[tuple[bytes | None, list[tuple[str, bytes]]]] = []
        try:
            while True:
                batch = consumer.consume(1000, 1.0)
                if not batch:
                    return out
                out.extend((m.value(), list(m.headers() or [])) for m in batch
                           if m.error() is None)
        finally:
            consumer.close()

    def drop(self) -> None:
        for future in self.admin.delete_topics(self.names, operation_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result(timeout=30)


@pytest.fixture
def world(stack: Connections) -> Iterator[World]:
    w = World(stack.kafka_bootstrap_servers)
    yield w
    w.drop()


@contextlib.contextmanager
def running(world: World) -> Iterator[Bridge]:
    bridge = Bridge(load_settings(world.settings_env()), metrics=BridgeMetrics(CollectorRegistry()))
    stop = threading.Event()
    thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield bridge
    finally:
        stop.set()
        thread.join(30)


def envelope(message_id: str, from_agency: str = "a") -> bytes:
    return encode_envelope(Envelope(
        message_id=message_id, name="caseRequest", correlation_key="C-1",
        variables={"caseId": "C-1"}, from_agency=from_agency, to_agency="b", principal=CLERK,
        source_instance_id="i-1", source_element_id="ask_b", timestamp=1))


def test_envelopes_are_published_as_the_partner_and_the_rest_is_dead_lettered(
        world: World) -> None:
    world.produce([(b"C-1", envelope("m-1")), (b"C-1", envelope("m-2", from_agency="c")),
                   (b"C-1", b"\x00not an envelope")])
    with running(world) as bridge:
        assert wait_until(lambda: bridge.published + bridge.dead_lettered >= 3, 60,
                          message="the three records handled")
    published = [decode_record(v or b"") for v, _ in world.read(world.topics.messages)]
    assert [(c.intent, c.value["messageId"], c.principal.id, c.principal.kind.value)
            for c in published] == [("PUBLISH_MESSAGE", "agency:a:m-1", "agency:a", "agent")]
    dead = sorted(read_dead_letter_headers(h)["reason"] for _, h in world.read(world.topics.dlq))
    assert dead == ["bad-marker", "unknown-agency"]


def test_a_bridge_that_starts_again_publishes_the_same_message_id(world: World) -> None:
    world.produce([(b"C-1", envelope("m-1"))])
    with running(world) as bridge:
        assert wait_until(lambda: bridge.published == 1, 60, message="published once")
    # as if the first had died after producing and before committing: the group's offsets
    # are reset and a second bridge reads the record again
    settings = load_settings(world.settings_env())
    reset = Consumer(consumer_config(world.bootstrap, settings.group))
    reset.commit(offsets=[TopicPartition(world.receive, p, 0) for p in range(2)],
                 asynchronous=False)
    reset.close()
    with running(world) as bridge:
        assert wait_until(lambda: bridge.published == 1, 60, message="published again")
    ids = [decode_record(v or b"").value["messageId"]
           for v, _ in world.read(world.topics.messages)]
    # twice on the topic, under one id: the engine correlates it once (e2e test)
    assert ids == ["agency:a:m-1", "agency:a:m-1"]
