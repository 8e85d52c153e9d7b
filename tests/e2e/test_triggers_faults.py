"""Exactly once under faults (issue 12): a feed of 1,000 entries read by two replicas of the
triggers service, SIGKILLed three times while the entries start, starts exactly 1,000 instances;
the same entries offered again start none, even with the schedule's cursor lost, and even with
its record of fires lost too (then the engine refuses every start as an id it has seen)."""

from __future__ import annotations

from typing import Any

import pytest

from laneway.records import RecordKind
from scripts.stack.testing import unique_name, wait_until
from tests.e2e.harness import Laneway, TopicReader
from tests.e2e.trigger_kit import WITH_TRIGGERS, schedule_of, triggered
from tests.feed_server import Entry, FeedServer, feed_server, rss

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]

ENTRIES = 1000
BATCHES = 4

# a dead replica's lease runs out after 2 x 5 s instead of 2 minutes
FAST = {"LANEWAY_TRIGGERS_POLL_TIMEOUT_S": "5", "LANEWAY_TRIGGERS_BACKOFF_S": "1"}


def _count(lw: Laneway, pid: str) -> int:
    with lw.api() as api:
        page = api.get("/api/instances", params={"processId": pid, "limit": 1})
    assert page.status_code == 200, page.text
    return int(page.json()["count"])


def _fires(lw: Laneway, schedule: str) -> int:
    with lw.db() as conn:
        row = conn.execute("SELECT count(*) FROM fires WHERE schedule_id = %s",
                           (schedule,)).fetchone()
    assert row is not None
    return int(row[0])


def _fire(api: Any, schedule: str) -> list[str]:
    """Fire now, again while the other replica holds the schedule's lease (409)."""
    answers: list[Any] = []

    def fired() -> bool:
        response = api.post(f"/api/schedules/{schedule}/fire")
        assert response.status_code in (200, 409), response.text
        answers.append(response)
        return response.status_code == 200

    wait_until(fired, 60, 0.2, "a fire now between the replicas' polls")
    ids: list[str] = answers[-1].json()["instanceIds"]
    return ids


def _entries(upto: int) -> list[Entry]:
    return [Entry(f"urn:news:{i}", title=f"News {i}") for i in range(upto)]


def _offer(server: FeedServer, upto: int, *, reverse: bool = False) -> None:
    entries = _entries(upto)
    server.put("/faults.xml", rss(entries[::-1] if reverse else entries))


def test_a_thousand_entries_start_a_thousand_instances_through_kills_and_two_replicas(
        laneway: Any) -> None:
    lw: Laneway = laneway(WITH_TRIGGERS, env_overrides=FAST)
    second = lw.add("triggers", "b")
    pid = unique_name("faults").replace("-", "_")
    per_batch = ENTRIES // BATCHES
    with feed_server() as server:
        _offer(server, per_batch)
        lw.deploy(triggered(pid, "feed", start="entry", url=f"{server.url}/faults.xml",
                            interval="PT1S", initial="fire-existing", maxItems="100"))
        schedule = schedule_of(lw, pid)["id"]
        # a replica is killed as soon as a batch has begun to start (its polls of 100 items
        # each are under way, one of them may hold the lease mid-poll), and comes back
        for batch, victim in ((2, None), (3, second), (4, None)):
            wait_until(lambda b=batch: _fires(lw, schedule) >= (b - 1) * per_batch - 50, 120,
                       message=f"batch {batch - 1} mostly started")
            _offer(server, batch * per_batch)
            wait_until(lambda b=batch: _fires(lw, schedule) > (b - 1) * per_batch, 60, 0.01,
                       message=f"batch {batch} begun")
            lw.kill("triggers", victim)
            lw.restart("triggers", victim)
        wait_until(lambda: _count(lw, pid) >= ENTRIES, 180,
                   message=f"{ENTRIES} instances of {pid}")
        wait_until(lambda: _fires(lw, schedule) >= ENTRIES, 60, message="every fire recorded")
        assert _count(lw, pid) == ENTRIES
        assert _fires(lw, schedule) == ENTRIES

        # the same entries again, re-ordered (a new ETag): nothing starts
        _offer(server, ENTRIES, reverse=True)
        with lw.api() as api:
            assert _fire(api, schedule) == []
            # the cursor lost (as after a crash before it was saved): the fires stop them
            with lw.db() as conn:
                conn.execute("UPDATE schedules SET cursor = NULL WHERE id = %s", (schedule,))
            assert _fire(api, schedule) == []
            # the fires lost too: the starts are sent, and the engine refuses every one
            with lw.db() as conn:
                conn.execute("UPDATE schedules SET cursor = NULL WHERE id = %s", (schedule,))
                conn.execute("DELETE FROM fires WHERE schedule_id = %s", (schedule,))
            resent = set(_fire(api, schedule))
        assert len(resent) == 100  # maxItems: one page of the feed
        events = TopicReader(lw.bootstrap, lw.topics.events)
        try:
            def refused(records: list[Any]) -> bool:
                ids = {r.instance_id for r in records if r.kind == RecordKind.REJECTION
                       and r.intent == "START_INSTANCE" and r.instance_id in resent}
                return ids == resent
            events.wait_for(refused, 60, "every start sent again refused")
        finally:
            events.close()
        assert _count(lw, pid) == ENTRIES
