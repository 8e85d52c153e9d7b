"""`python -m scripts.stack clean-topics` deletes leftover topics and keeps the stack's.

Run against the shared broker, so every call is limited (`--prefix`) to this test's own,
uniquely named topics: it never deletes another test's or benchmark's topics.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from scripts.stack import Connections
from scripts.stack.__main__ import main
from scripts.stack.testing import unique_name, wait_until

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

    assert main(["clean-topics", "--dry-run", "--prefix", prefix]) == 0
    out, err = capsys.readouterr()
    assert out.split() == sorted(leftovers)
    assert "would delete 3 topic(s)" in err
    assert _topics(admin, prefix) == {*leftovers, own}  # a dry run deletes nothing

    assert main(["clean-topics", "--prefix", prefix]) == 0
    assert "deleted 3 topic(s)" in capsys.readouterr().err
    # the deletion is asynchronous on the broker: gone from its metadata within the deadline
    wait_until(lambda: _topics(admin, prefix) == {own}, 60, 0.2, "the leftovers deleted")
    # and Kafka's own internal topics are still there
    assert {"__consumer_offsets"} <= set(admin.list_topics(timeout=10).topics)
