"""The feed trigger end to end: examples/triggers/feed.bpmn, pointed at a local HTTP server
serving an Atom feed, is deployed and AUTHORIZED; its first poll only records the entry
already there; a new entry then starts exactly one instance with the entry's variables, whose
audit shows the trigger's principal and the entry's dedup key; the polls after that (answered
304) start nothing more."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scripts.stack.testing import wait_until
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import (
    WITH_TRIGGERS,
    first_event,
    instances_of,
    schedule_of,
    wait_instances,
)
from tests.feed_server import ATOM, Entry, FeedServer, atom, feed_server

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "triggers" / "feed.bpmn"
EXAMPLE_URL = "https://github.com/confluentinc/confluent-kafka-python/releases.atom"
PROCESS = "release_watch"

OLD = Entry("tag:releases,2026:v2.16.0", "v2.16.0", "https://releases.example.org/v2.16.0",
            datetime(2026, 4, 1, 9, 0, tzinfo=UTC), "<p>Older <b>release</b></p>")
NEW = Entry("tag:releases,2026:v2.16.1", "v2.16.1", "https://releases.example.org/v2.16.1",
            datetime(2026, 5, 4, 10, 0, tzinfo=UTC),
            "<p>Fixes &amp; a <b>librdkafka</b> upgrade</p>", "release-bot", ["patch"])


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with feed_server() as srv:
        yield srv


def _example(url: str) -> bytes:
    """The example as shipped, but polling `url` every second."""
    xml = EXAMPLE.read_text()
    assert EXAMPLE_URL in xml
    assert 'laneway:interval="PT6H"' in xml
    return xml.replace(EXAMPLE_URL, url).replace('laneway:interval="PT6H"',
                                                 'laneway:interval="PT1S"').encode()


def test_a_new_feed_entry_starts_exactly_one_instance_with_its_variables(
        laneway: Any, server: FeedServer) -> None:
    lw: Laneway = laneway(WITH_TRIGGERS)
    server.put("/releases.atom", atom([OLD], title="Releases"), ATOM)

    # given the example deployed (AUTHORIZED), its first poll done: the old entry recorded
    lw.deploy(_example(f"{server.url}/releases.atom"), name="feed.bpmn")
    schedule = schedule_of(lw, PROCESS)
    assert (schedule["type"], schedule["status"]) == ("feed", "active"), schedule

    def polled() -> dict[str, Any] | None:
        with lw.api() as api:
            detail: dict[str, Any] = api.get(f"/api/schedules/{schedule['id']}").json()
        return detail if detail["lastPollAt"] and detail["cursor"] else None

    first = wait_until(polled, 60, message="the feed schedule's first poll")
    assert first["lastError"] is None, first
    assert first["cursor"]["etag"] == server.documents["/releases.atom"].etag

    # when a release is published on top
    server.put("/releases.atom", atom([NEW, OLD], title="Releases"), ATOM)

    # then one instance starts, with the entry's variables and the trigger's principal
    (instance,) = wait_instances(lw, PROCESS, 1)
    assert instance["variables"]["entry"] == {
        "id": "tag:releases,2026:v2.16.1", "title": "v2.16.1",
        "link": "https://releases.example.org/v2.16.1", "published": "2026-05-04T10:00:00Z",
        "updated": "2026-05-04T10:00:00Z", "summary": "Fixes & a librdkafka upgrade",
        "author": "release-bot", "categories": ["patch"]}
    assert instance["variables"]["feed"]["title"] == "Releases"
    event = first_event(lw, instance["instanceId"])
    assert event["principal"]["id"] == f"trigger:feed:{schedule['id']}"
    assert event["value"]["trigger"]["dedupKey"] == "entry:tag:releases,2026:v2.16.1"

    # and the polls after it hear 304 and start nothing more
    seen = len(server.seen("/releases.atom"))
    wait_until(lambda: len(server.seen("/releases.atom")) >= seen + 3, 30,
               message="three more polls of the feed")
    assert server.seen("/releases.atom")[-1].headers.get("if-none-match") == \
        server.documents["/releases.atom"].etag
    assert len(instances_of(lw, PROCESS)) == 1
    with lw.api() as api:
        detail = api.get(f"/api/schedules/{schedule['id']}").json()
    assert detail["firesTotal"] == 1, detail
    assert [f["dedupKey"] for f in detail["recentFires"]] == ["entry:tag:releases,2026:v2.16.1"]
