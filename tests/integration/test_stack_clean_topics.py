"""`python -m scripts.stack clean-topics` deletes leftover topics and keeps the stack's.

Run against the shared broker, so every call is limited (`--prefix`) to this test's own,
uniquely named topics: it never deletes another test's or benchmark's topics.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

from scripts.stack import Connections
from scripts.stack.__main__ import main
from scripts.stack.config import Settings
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.topics import clean_topics, local_log_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture
def admin(stack: Connections) -> AdminClient:
    return AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers, "log_level": 0})


@pytest.fixture
def names(admin: AdminClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[str],
                                                                                  str]]:
    """(the test's prefix, 3 leftover topics under it, a topic of the stack's own set, whose
    prefix `LANEWAY_TOPIC_PREFIX` says is under the test's prefix too)."""
    prefix = unique_name("test.clean") + "."
    # the "stack" of this test: its topics are under the test's prefix, so a clean limited
    # to that prefix would delete its commands topic if the command did not protect it
    monkeypatch.setenv("LANEWAY_TOPIC_PREFIX", prefix + "stack.")
    leftovers = [f"{prefix}left-{n}" for n in range(3)]
    own = f"{prefix}stack.commands"
    futures = admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1)
                                   for n in [*leftovers, own]], operation_timeout=30)
    for future in futures.values():
        future.result(timeout=30)
    yield prefix, leftovers, own
    mine = [n for n in admin.list_topics(timeout=10).topics if n.startswith(prefix)]
    if mine:
        for future in admin.delete_topics(mine, operation_timeout=30).values():
            future.result(timeout=30)


def _topics(admin: AdminClient, prefix: str) -> set[str]:
    return {n for n in admin.list_topics(timeout=10).topics if n.startswith(prefix)}


def test_clean_topics_deletes_the_leftovers_and_keeps_the_stacks_topics(
        admin: AdminClient, names: tuple[str, list[str], str],
        capsys: pytest.CaptureFixture[str]) -> None:
    prefix, leftovers, own = names
    wait_until(lambda: _topics(admin, prefix) == {*leftovers, own}, 30, 0.1,
               "the test's topics created")

    # --older-than 0: regardless of age (the test's topics are seconds old)
    assert main(["clean-topics", "--dry-run", "--prefix", prefix, "--older-than", "0"]) == 0
    out, err = capsys.readouterr()
    assert out.split() == sorted(leftovers)
    assert "would delete 3 topic(s)" in err
    assert _topics(admin, prefix) == {*leftovers, own}  # a dry run deletes nothing

    assert main(["clean-topics", "--prefix", prefix, "--older-than", "0"]) == 0
    assert "deleted 3 topic(s)" in capsys.readouterr().err
    # the deletion is asynchronous on the broker: gone from its metadata within the deadline
    wait_until(lambda: _topics(admin, prefix) == {own}, 60, 0.2, "the leftovers deleted")
    # and Kafka's own internal topics are still there
    assert {"__consumer_offsets"} <= set(admin.list_topics(timeout=10).topics)


def test_by_default_a_topic_written_recently_is_kept_and_an_old_one_deleted(
        admin: AdminClient, names: tuple[str, list[str], str]) -> None:
    """The stack's own broker: a topic's age is its partition directory's newest write. One
    leftover's directory and files are set two hours back; the two fresh ones stay."""
    prefix, leftovers, own = names
    wait_until(lambda: _topics(admin, prefix) == {*leftovers, own}, 30, 0.1,
               "the test's topics created")
    settings = Settings.from_env()
    data = local_log_dir(settings, admin.list_topics(timeout=10).cluster_id)
    if data is None:
        pytest.skip("the broker is not this stack's own (no log directory to date topics by)")
    old = leftovers[0]
    two_hours_ago = time.time() - 7200
    partition = data / f"{old}-0"

    def aged() -> bool:
        """The broker writes some of a new partition's files (`partition.metadata`, the
        leader epoch's checkpoint) a moment after the topic exists: age them all, until a
        dry run sees the topic as old."""
        if not partition.is_dir():
            return False
        for path in [*partition.iterdir(), partition]:
            os.utime(path, (two_hours_ago, two_hours_ago))
        return clean_topics(settings, prefix=prefix, dry_run=True).deleted == [old]

    wait_until(aged, 30, 0.2, "the leftover's partition dated two hours back")
    cleaned = clean_topics(settings, prefix=prefix)
    assert cleaned.deleted == [old]
    assert cleaned.recent == 2
    wait_until(lambda: _topics(admin, prefix) == {*leftovers[1:], own}, 60, 0.2,
               "the old leftover deleted")


def test_through_the_broker_a_topic_is_dated_by_its_newest_record(
        stack: Connections, admin: AdminClient, names: tuple[str, list[str], str]) -> None:
    """Another broker (no log directory at hand): the newest record's timestamp dates a
    topic; an empty one cannot be dated and is kept."""
    prefix, leftovers, own = names
    wait_until(lambda: _topics(admin, prefix) == {*leftovers, own}, 30, 0.1,
               "the test's topics created")
    old, fresh, empty = leftovers
    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap_servers, "log_level": 0})
    now_ms = int(time.time() * 1000)
    producer.produce(old, b"left", timestamp=now_ms - 7_200_000)
    producer.produce(fresh, b"old first", timestamp=now_ms - 7_200_000)
    producer.produce(fresh, b"then new", timestamp=now_ms)
    assert producer.flush(30) == 0

    dry = clean_topics(Settings.from_env(), prefix=prefix, dry_run=True, log_dir=False)
    assert dry.deleted == [old]
    assert dry.recent == 2  # the fresh one and the empty one
    assert _topics(admin, prefix) == {*leftovers, own}
    # with a three-hour limit, the two-hour-old topic is recent too
    assert clean_topics(Settings.from_env(), prefix=prefix, dry_run=True, log_dir=False,
                        older_than=3 * 3600).deleted == []
    assert empty not in dry.deleted
