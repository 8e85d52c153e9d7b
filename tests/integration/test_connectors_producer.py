"""The connectors' producer (services/connectors/kafka_io.py) against the real Kafka."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from laneway.kafka import consumer_config, producer_config
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services.connectors.kafka_io import AsyncProducer
from tests.kafka_fakes import FatalProducer

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def test_a_producer_gone_fatal_is_replaced_and_the_record_still_lands(
        stack: Connections) -> None:
    bootstrap = stack.kafka_bootstrap_servers
    topic = unique_name("test.connectors.producer")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    made: list[Producer] = []

    def fresh() -> Producer:
        made.append(Producer(producer_config(bootstrap)))
        return made[-1]

    async def send() -> None:
        producer = AsyncProducer(FatalProducer({"bootstrap.servers": bootstrap}),
                                 asyncio.get_running_loop(), renew=fresh)
        try:
            await asyncio.wait_for(producer.send(topic, "k", b"answer"), 30)
        finally:
            producer.close()

    try:
        asyncio.run(send())
        assert len(made) == 1  # renewed once, not on every attempt
        consumer = Consumer({**consumer_config(bootstrap, unique_name("test.read")),
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([topic])
        try:
            got = consumer.consume(1, timeout=30)
        finally:
            consumer.close()
        assert [(m.key(), m.value()) for m in got] == [(b"k", b"answer")]
    finally:
        admin.delete_topics([topic])
