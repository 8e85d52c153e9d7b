"""The metrics every service shares (laneway.service.shared_metrics) and the gauges counted on
scrape (laneway.service.scraped): HTTP timing by route template, consumer lag from librdkafka's
statistics, the watchdog's signal, bounded labels and the scrape cache."""

from __future__ import annotations

import json
import time

import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest

from laneway.service.progress import Progress
from laneway.service.scraped import CountedOnScrape
from laneway.service.shared_metrics import (
    BoundedLabel,
    HttpTiming,
    ServiceMetrics,
    lag_from_statistics,
)

# the shape of librdkafka's statistics (STATISTICS.md): per topic, per partition, with the
# internal UA partition "-1" and a partition not assigned here (`desired` false); offsets
# not known yet are -1001
STATS = {
    "name": "laneway-engine#consumer-1", "type": "consumer",
    "topics": {
        "p.commands": {"topic": "p.commands", "partitions": {
            # delivered up to 3, nothing committed (an engine: its producer commits)
            "0": {"partition": 0, "desired": True, "app_offset": 3, "committed_offset": -1001,
                  "ls_offset": 10, "hi_offset": 12, "consumer_lag": -1},
            # committed further than delivered (just assigned)
            "1": {"partition": 1, "desired": True, "app_offset": -1001, "committed_offset": 1,
                  "ls_offset": 4, "hi_offset": 4},
            # assigned, nothing known yet
            "2": {"partition": 2, "desired": True, "app_offset": -1001,
                  "committed_offset": -1001, "ls_offset": -1001, "hi_offset": 50},
            # revoked: another member's now
            "3": {"partition": 3, "desired": False, "app_offset": 1, "ls_offset": 90},
            "-1": {"partition": -1, "desired": False, "app_offset": -1001}}},
        "p.messages": {"topic": "p.messages", "partitions": {
            "0": {"partition": 0, "desired": True, "app_offset": 8, "ls_offset": 8,
                  "committed_offset": 8}}},
    },
}


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def app_with_timing(registry: CollectorRegistry) -> TestClient:
    app = FastAPI()

    @app.get("/api/things/{thing_id}")
    def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise HTTPException(404)
        return {"id": thing_id}

    @app.post("/api/things")
    def boom() -> None:
        raise RuntimeError("the handler broke")

    app.add_middleware(HttpTiming, metrics=ServiceMetrics.of("worklist", registry))
    return TestClient(app, raise_server_exceptions=False)


def test_http_requests_are_timed_by_route_template_and_status_class() -> None:
    registry = CollectorRegistry()
    client = app_with_timing(registry)
    for thing in ("a1", "b2", "missing"):
        client.get(f"/api/things/{thing}")
    assert client.post("/api/things").status_code == 500
    client.get("/nowhere/secret-path")
    client.request("PROPFIND", "/api/things/a1")

    name = "laneway_worklist_http_request_duration_seconds_count"
    route = "/api/things/{thing_id}"
    assert sample(registry, name, method="GET", route=route, status="2xx") == 2
    assert sample(registry, name, method="GET", route=route, status="4xx") == 1
    assert sample(registry, name, method="POST", route="/api/things", status="5xx") == 1
    assert sample(registry, name, method="GET", route="unmatched", status="4xx") == 1
    text = generate_latest(registry).decode()
    # a path a client sent, or a method it made up, never becomes a label value
    for raw in ("a1", "b2", "secret-path", "PROPFIND"):
        assert raw not in text


def test_the_same_registry_gets_the_same_metrics_and_flags_leave_metrics_out() -> None:
    registry = CollectorRegistry()
    first = ServiceMetrics.of("engine", registry, http=False)
    assert ServiceMetrics.of("engine", registry) is first
    assert first.http_seconds is None
    with pytest.raises(ValueError, match="HTTP API"):
        HttpTiming(FastAPI(), metrics=first)
    quiet = ServiceMetrics.of("definitions", registry, consumers=False)
    with pytest.raises(ValueError, match="consumers"):
        quiet.lag_config("g")
    names = {f.name for f in registry.collect()}
    assert "laneway_engine_consumer_lag_records" in names
    assert "laneway_engine_http_request_duration_seconds" not in names
    assert "laneway_definitions_loop_stalled" not in names


def test_lag_is_summed_per_topic_from_the_statistics() -> None:
    assert lag_from_statistics(json.dumps(STATS)) == {"p.commands": 10, "p.messages": 0}


def test_the_statistics_callback_sets_the_gauge_and_zeroes_a_topic_that_left() -> None:
    registry = CollectorRegistry()
    config = ServiceMetrics.of("engine", registry).lag_config("engine-group", 500)
    assert config["statistics.interval.ms"] == 500
    on_statistics = config["stats_cb"]

    on_statistics(json.dumps(STATS))
    name = "laneway_engine_consumer_lag_records"
    assert sample(registry, name, topic="p.commands", group="engine-group") == 10
    on_statistics(json.dumps({"topics": {"p.messages": STATS["topics"]["p.messages"]}}))
    assert sample(registry, name, topic="p.commands", group="engine-group") == 0
    on_statistics("not json")  # ignored: the last values stay
    assert sample(registry, name, topic="p.messages", group="engine-group") == 0


def test_a_bounded_label_passes_the_first_values_then_says_other() -> None:
    label = BoundedLabel(2, max_length=5)
    assert [label(v) for v in ("a", "b", "c", "a", "longer-than-five")] == [
        "a", "b", "other", "a", "other"]


def test_the_watchdog_signal_follows_the_progress_check() -> None:
    now = [1000.0]
    progress = Progress("test loop of shared metrics", stall_s=5, clock=lambda: now[0])
    registry = CollectorRegistry()
    ServiceMetrics.of("bridge", registry, http=False)
    stalled = "laneway_bridge_loop_stalled"
    loop = {"loop": "test loop of shared metrics"}

    assert sample(registry, stalled, **loop) == 0
    now[0] += 6  # no poll for longer than stall_s
    assert sample(registry, stalled, **loop) == 1
    progress.polled()
    assert sample(registry, stalled, **loop) == 0
    last = sample(registry, "laneway_bridge_loop_last_poll_timestamp_seconds", **loop)
    assert last is not None
    assert abs(last - time.time()) < 60  # Unix time, not the monotonic clock


def test_counts_on_scrape_are_cached_and_absent_while_unknown() -> None:
    now = [0.0]
    reads: list[int] = []
    registry = CollectorRegistry()
    counts = CountedOnScrape({"laneway_worklist_user_tasks_open": "open"}, registry,
                             ttl_s=15, clock=lambda: now[0])
    name = "laneway_worklist_user_tasks_open"
    assert sample(registry, name) is None  # nothing to count with yet

    def read() -> dict[str, float]:
        reads.append(1)
        if len(reads) == 3:
            raise OSError("the database went away")
        return {name: float(len(reads))}

    counts.watch(read)
    assert sample(registry, name) == 1
    now[0] = 10
    assert sample(registry, name) == 1  # within the cache's 15 s: no second query
    now[0] = 16
    assert sample(registry, name) == 2
    now[0] = 32
    assert sample(registry, name) is None  # the read failed: absent, not a stale count
    assert len(reads) == 3
