"""The benchmarks' scratch topics (benchmarks/scratch_topics.py) on the real broker: created
with the partitions asked for, refused when a name is taken, deleted after."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from benchmarks.scratch_topics import create_topics, delete_topics, engine_topics
from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _partitions(admin: AdminClient, names: set[str]) -> dict[str, int]:
    listed = admin.list_topics(timeout=10).topics
    return {n: len(listed[n].partitions) for n in names if n in listed}


def test_the_engine_topics_are_created_with_their_partitions_and_deleted(
        stack: Connections) -> None:
    bootstrap = stack.kafka_bootstrap_servers
    topics = Topics(unique_name("test.scratch") + ".")
    wanted = engine_topics(topics, 3)
    assert wanted == {topics.commands: 3, topics.events: 3, topics.messages: 3,
                      topics.state: 3, topics.definitions: 1, topics.dlq: 1}
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    create_topics(bootstrap, wanted)
    try:
        assert _partitions(admin, set(wanted)) == wanted
        # a name taken: the broker's error, not a silent reuse of another run's topic
        with pytest.raises(KafkaException, match="already exists"):
            create_topics(bootstrap, {topics.events: 3})
    finally:
        delete_topics(bootstrap, wanted)
    wait_until(lambda: not _partitions(admin, set(wanted)), 30, 0.2, "the topics deleted")


def test_deleting_what_is_not_there_is_not_an_error(stack: Connections) -> None:
    # a benchmark's cleanup runs after its error too, when its topics may not all exist
    delete_topics(stack.kafka_bootstrap_servers, [unique_name("test.scratch.none")])
    delete_topics(stack.kafka_bootstrap_servers, [])
