"""The benchmarks' own topics: created under a fresh prefix for one run, deleted after it.

One place for what every benchmark did in its own words: create with replication 1 (the
local single-node broker), wait for each topic, and delete at the end without letting a
failed deletion hide the run's figures or its error."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping

from confluent_kafka.admin import AdminClient, NewTopic

from laneway.kafka import admin_config
from laneway.topics import Topics

TIMEOUT_S = 30.0


def create_topics(bootstrap: str, partitions: Mapping[str, int]) -> None:
    """Create each named topic with its number of partitions and wait until all exist
    (raises the broker's error, e.g. when a name is taken)."""
    if not partitions:
        return
    admin = AdminClient(admin_config(bootstrap, quiet=False))
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=n, replication_factor=1)
         for name, n in partitions.items()], operation_timeout=TIMEOUT_S)
    for future in futures.values():
        future.result(TIMEOUT_S)


def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete the topics, waiting for each; best effort (a benchmark's cleanup must not
    replace the error or the figures of its run)."""
    names = list(names)
    if not names:
        return
    admin = AdminClient(admin_config(bootstrap))
    for future in admin.delete_topics(names, operation_timeout=TIMEOUT_S).values():
        with contextlib.suppress(Exception):
            future.result(TIMEOUT_S)


def engine_topics(topics: Topics, partitions: int) -> dict[str, int]:
    """The engine's topics and their partitions: commands, events, messages and state
    partitioned by instance; definitions and the dead letters on one partition."""
    return {**dict.fromkeys((topics.commands, topics.events, topics.messages, topics.state),
                            partitions),
            topics.definitions: 1, topics.dlq: 1}
