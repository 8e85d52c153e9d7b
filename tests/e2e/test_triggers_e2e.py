"""The triggers service end to end: a timer start event starts instances once its version is
AUTHORIZED and stops when a newer version drops it; a webhook call with a valid signature
starts exactly one instance per delivery; pause holds the starts back and resume lets them
through; fire now starts one at once; the instances carry the trigger's principal and item in
their audit history."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from laneway.triggers.builtin.webhook import sign
from scripts.stack.testing import unique_name, wait_until
from tests.auth import auth_header
from tests.e2e.harness import Laneway
from tests.e2e.trigger_kit import (
    WITH_TRIGGERS,
    first_event,
    instances_of,
    schedule_of,
    timed,
    triggered,
    untriggered,
    wait_instances,
)
from tests.feed_server import Entry, feed_server, rss
from tests.lifecycle import APPROVER, transition

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

@pytest.fixture
def lw(laneway: Any) -> Laneway:
    started: Laneway = laneway(WITH_TRIGGERS)
    return started


def test_a_timer_start_event_starts_once_authorized_and_stops_when_superseded(
        lw: Laneway) -> None:
    pid = unique_name("timer").replace("-", "_")
    lw.deploy(timed(pid, "R3/PT1S"))
    schedule = schedule_of(lw, pid)
    assert schedule["type"] == "timer", schedule
    assert schedule["status"] == "active", schedule
    found = wait_instances(lw, pid, 3)
    # the cycle has three repetitions: the schedule says it is done after them
    with lw.api() as api:
        detail = api.get(f"/api/schedules/{schedule['id']}").json()
    assert detail["firesTotal"] == 3, detail
    assert detail["cursor"]["done"] is True, detail
    assert len(instances_of(lw, pid)) == 3
    event = first_event(lw, found[0]["instanceId"])
    assert event["principal"]["id"] == f"trigger:timer:{schedule['id']}"
    assert event["value"]["trigger"]["schedule"] == schedule["id"]
    assert event["value"]["trigger"]["dedupKey"].startswith("due:")
    # a version without the timer retires the schedule
    lw.deploy(untriggered(pid))

    def retired() -> bool:
        with lw.api() as api:
            return api.get(f"/api/schedules/{schedule['id']}").json()["status"] == "retired"

    wait_until(retired, 30, message="the schedule retired by the new version")


def test_pause_holds_starts_back_and_fire_now_starts_one(lw: Laneway) -> None:
    pid = unique_name("timer").replace("-", "_")
    # every hour: nothing is due during the test unless fired by hand
    lw.deploy(timed(pid, "R/PT1H"))
    schedule = schedule_of(lw, pid)
    with lw.api() as api:
        paused = api.post(f"/api/schedules/{schedule['id']}/pause")
        assert paused.status_code == 200, paused.text
        assert paused.json()["status"] == "paused"
        fired = api.post(f"/api/schedules/{schedule['id']}/fire")
        assert fired.status_code == 200, fired.text
        [instance_id] = fired.json()["instanceIds"]
        again = api.post(f"/api/schedules/{schedule['id']}/resume")
        assert again.json()["status"] == "active"
        detail = api.get(f"/api/schedules/{schedule['id']}").json()
    assert detail["recentFires"][0]["instanceId"] == instance_id
    assert detail["recentFires"][0]["requestedBy"] == "admin"
    wait_instances(lw, pid, 1)
    event = first_event(lw, instance_id)
    assert event["value"]["trigger"]["requestedBy"] == "admin"
    # a modeler reads, only an operator fires
    with httpx.Client(base_url=lw.public_url, timeout=10) as client:
        as_modeler = auth_header("ana", roles=["modeler"])
        assert client.get(f"/api/schedules/{schedule['id']}",
                          headers=as_modeler).status_code == 200
        assert client.post(f"/api/schedules/{schedule['id']}/fire",
                           headers=as_modeler).status_code == 403
        assert client.get("/api/schedules").status_code == 401
    # the version RETIRED: the schedule retires with it, and nothing fires it any more
    with lw.api() as api:
        retired = transition(api, pid, 1, "RETIRED", APPROVER)
        assert retired.status_code == 200, retired.text

        def gone() -> bool:
            return bool(api.get(f"/api/schedules/{schedule['id']}").json()["status"]
                        == "retired")

        wait_until(gone, 30, message="the schedule retired with its version")
        assert api.post(f"/api/schedules/{schedule['id']}/fire").status_code == 409
        assert api.get("/api/schedules", params={"processId": pid}).json()["items"] == []


def _call(client: httpx.Client, path: str, secret: str, body: dict[str, Any],
          delivery: str | None, ts: float | None = None) -> httpx.Response:
    raw = json.dumps(body).encode()
    stamp = str(int(time.time() if ts is None else ts))
    headers = {"Content-Type": "application/json", "X-Laneway-Timestamp": stamp,
               "X-Laneway-Signature": sign(secret, stamp, raw)}
    if delivery is not None:
        headers["X-Laneway-Delivery"] = delivery
    return client.post(path, content=raw, headers=headers)


def test_a_signed_webhook_call_starts_one_instance_per_delivery(lw: Laneway) -> None:
    pid = unique_name("hook").replace("-", "_")
    lw.deploy(triggered(pid, "webhook", start="call", user_task=True, variablesName="order"))
    schedule = schedule_of(lw, pid)
    path = schedule["hookPath"]
    secret = "s3cret-" + unique_name("k")
    with httpx.Client(base_url=lw.public_url, timeout=15) as client:
        # no secret set yet: nothing starts
        assert _call(client, path, secret, {"n": 1}, "d-0").status_code == 503
        with lw.api() as api:
            put = api.put(f"/api/schedules/{schedule['id']}/credentials",
                          json={"values": {"secret": secret}})
            assert put.status_code == 204, put.text
            shown = api.get(f"/api/schedules/{schedule['id']}").json()
            assert shown["credentialNames"] == ["secret"]
            assert secret not in json.dumps(shown)
        first = _call(client, path, secret, {"n": 1}, "d-1")
        assert first.status_code == 202, first.text
        again = _call(client, path, secret, {"n": 1}, "d-1")
        assert again.status_code == 200
        assert again.json() == {
            "instanceId": first.json()["instanceId"], "duplicate": True}
        assert _call(client, path, "wrong", {"n": 2}, "d-2").status_code == 401
        assert _call(client, path, secret, {"n": 2}, "d-3",
                     ts=time.time() - 3600).status_code == 401
        second = _call(client, path, secret, {"n": 2}, "d-4")
        assert second.status_code == 202
        assert client.post(path, content=b"[1]").status_code == 401
    found = wait_instances(lw, pid, 2)
    assert sorted(i["variables"]["order"]["n"] for i in found) == [1, 2]
    assert len(instances_of(lw, pid)) == 2
    event = first_event(lw, first.json()["instanceId"])
    assert event["principal"]["id"] == f"trigger:webhook:{schedule['id']}"
    assert event["value"]["trigger"]["dedupKey"] == "delivery:d-1"


def test_a_paused_schedule_starts_nothing_and_on_resume_what_arrived_starts_once(
        lw: Laneway) -> None:
    def entries(n: int) -> bytes:
        return rss([Entry(f"urn:p:{i}", title=f"News {i}") for i in range(n)])

    with feed_server() as server:
        server.put("/news.xml", entries(3))
        url = f"{server.url}/news.xml"
        # two processes read the same feed: `clock` keeps polling and shows time has passed
        paused_pid = unique_name("paused").replace("-", "_")
        clock_pid = unique_name("clock").replace("-", "_")
        for pid in (paused_pid, clock_pid):
            lw.deploy(triggered(pid, "feed", start="entry", url=url, interval="PT1S"))
        paused, clock = schedule_of(lw, paused_pid), schedule_of(lw, clock_pid)
        with lw.api() as api:
            def polled(schedule: dict[str, Any]) -> bool:
                shown = api.get(f"/api/schedules/{schedule['id']}").json()
                return shown["lastPollAt"] is not None

            # the first polls only note what is there (skip-existing)
            wait_until(lambda: polled(paused) and polled(clock), 30, message="first polls")
            assert api.post(f"/api/schedules/{paused['id']}/pause").status_code == 200
            before = api.get(f"/api/schedules/{paused['id']}").json()["lastPollAt"]
            server.put("/news.xml", entries(5))  # two new entries while paused
            wait_instances(lw, clock_pid, 2)
            # the clock's poll after the change has come and gone; the paused one never polled
            assert api.get(f"/api/schedules/{paused['id']}").json()["lastPollAt"] == before
            assert instances_of(lw, paused_pid) == []
            assert api.post(f"/api/schedules/{paused['id']}/resume").status_code == 200
        found = wait_instances(lw, paused_pid, 2)
        assert sorted(i["variables"]["entry"]["id"] for i in found) == ["urn:p:3", "urn:p:4"]
        with lw.api() as api:
            detail = api.get(f"/api/schedules/{paused['id']}").json()
        assert detail["firesTotal"] == 2
        assert len(instances_of(lw, paused_pid)) == 2
