"""The e2e benchmark's raw three-hop floor (benchmarks/e2e/floor.py) on the real broker: every
paced start comes out at the end after its two echo hops and the worker's, and the chain's
topics are gone afterwards."""

from __future__ import annotations

import math

import pytest
from confluent_kafka.admin import AdminClient

from benchmarks.e2e.floor import chain_floor
from scripts.stack import Connections
from scripts.stack.testing import unique_name, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def test_the_floor_times_every_start_through_three_hops_and_drops_its_topics(
        stack: Connections) -> None:
    bootstrap = stack.kafka_bootstrap_servers
    prefix = unique_name("test.floor") + "."
    # chain_floor raises unless every start was read at the end (after the worker's answer
    # went through the echo a second time): a hop that drops or misroutes a record fails here
    floor = chain_floor(bootstrap, rate=50, seconds=2.0, partitions=2, warmup_s=0.2,
                        prefix=prefix)
    assert floor.rate == 50
    assert 0 < floor.p50_ms <= floor.p99_ms < 60_000
    # one p99 per second of the starts: 100 starts over 2 s (a third second when the last
    # start was sent late on a busy machine)
    assert 2 <= len(floor.p99_by_second) <= 3
    assert all(math.isfinite(ms) and ms > 0 for ms in floor.p99_by_second)
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    wait_until(lambda: not [t for t in admin.list_topics(timeout=10).topics
                            if t.startswith(prefix)], 30, 0.2, "the floor's topics deleted")


def test_the_one_hop_floor_runs_the_echo_alone(stack: Connections) -> None:
    # the completion's floor: each start straight from the echo to the end, no worker (if the
    # echo still sent starts to the job topic, nothing would reach the end and it would raise)
    floor = chain_floor(stack.kafka_bootstrap_servers, rate=50, seconds=1.0, partitions=2,
                        warmup_s=0.2, prefix=unique_name("test.floor1") + ".", hops=1)
    assert floor.hops == 1
    assert 0 < floor.p50_ms <= floor.p99_ms < 60_000
    assert "one-hop" in floor.show()

