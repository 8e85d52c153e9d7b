"""What the chaos run checks at the end, from the outside: the engine's records on `events`
(as a read_committed consumer sees them), the audit's table and routes, the API's instance
projection, and the requests the connector's far side received.

Invariants (each failure names its instances, at most `SHOWN` of them):

- every acknowledged start (a 201) started an instance, and every instance started completed,
  exactly once; each ran its job, its user task, its message catch and its timer exactly once;
- the API's projection says COMPLETED for exactly the instances completed on `events`;
- the audit log has one row per record of `events` (compared by record id), and every
  instance's chain verifies (`GET /api/instances/{id}/verify`) over all its records;
- the far side saw every completed instance's side effect, each with an Idempotency-Key, and
  never two keys for one instance (a repeat is allowed only with the same key).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from laneway.records import Record
from tests.connector_servers import RecordingServer
from tests.e2e.harness import Laneway, TopicReader

SHOWN = 20
ONCE_EACH = {"JOB_CREATED": "job created", "USER_TASK_COMPLETED": "user task completed",
             "TIMER_TRIGGERED": "timer fired"}


@dataclass
class Outcome:
    figures: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)
    """Invariant -> the instances (or record ids) that break it."""

    def fail(self, invariant: str, ids: Iterable[str]) -> None:
        listed = sorted(ids)
        if listed:
            self.failures[invariant] = listed

    @property
    def ok(self) -> bool:
        return not self.failures


def read_all(lw: Laneway, quiet_s: float = 5.0, limit_s: float = 300.0
             ) -> tuple[list[Record], list[tuple[int, int, int]]]:
    """Every committed record of `events`, once nothing new arrived for `quiet_s`, and where
    each was read: (partition, offset, Kafka timestamp ms)."""
    reader = TopicReader(lw.bootstrap, lw.topics.events)
    try:
        seen, since = -1, time.monotonic()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            count = len(reader.poll(0.5))
            if count != seen:
                seen, since = count, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
        return list(reader.items), list(reader.meta)
    finally:
        reader.close()


def wait_for(what: Callable[[], bool], limit_s: float) -> bool:
    """Until `what` holds or `limit_s` passed (a projection catching up)."""
    deadline = time.monotonic() + limit_s
    while not what():
        if time.monotonic() >= deadline:
            return False
        time.sleep(1.0)
    return True


def projected_completed(api: httpx.Client, process_id: str) -> set[str]:
    """GET /api/instances?processId=&status=COMPLETED, every page."""
    ids: set[str] = set()
    offset = 0
    while True:
        page = api.get("/api/instances", params={"processId": process_id, "status": "COMPLETED",
                                                 "limit": 1000, "offset": offset})
        page.raise_for_status()
        items = page.json()["items"]
        ids.update(item["instanceId"] for item in items)
        if len(items) < 1000:
            return ids
        offset += len(items)


def audit_rows(lw: Laneway) -> Counter[str]:
    with lw.db() as conn:
        rows = conn.execute("SELECT record_id, count(*) FROM audit_log GROUP BY record_id")
        return Counter({str(rid): int(n) for rid, n in rows.fetchall()})


def check(lw: Laneway, api: httpx.Client, process_id: str, acknowledged: dict[str, str],
          server: RecordingServer, catch_up_s: float = 120.0) -> Outcome:
    """Every invariant, from the running Laneway and the far side's requests."""
    out = Outcome()
    records, where = read_all(lw)
    started, completed = engine_checks(records, process_id, acknowledged, out)

    # the API's projection (the audit service's `instances` table)
    projected: set[str] = set()

    def projection_caught_up() -> bool:
        nonlocal projected
        projected = projected_completed(api, process_id)
        return projected >= completed
    wait_for(projection_caught_up, catch_up_s)
    out.figures["instances COMPLETED (GET /api/instances)"] = len(projected)
    out.fail("completed on events, not COMPLETED in the API", completed - projected)
    out.fail("COMPLETED in the API, not completed on events", projected - completed)

    # the audit log: one row per record, by record id
    rows: Counter[str] = Counter()

    def audit_caught_up() -> bool:
        nonlocal rows
        rows = audit_rows(lw)
        return set(rows) >= {r.record_id for r in records}
    wait_for(audit_caught_up, catch_up_s)
    audit_checks(records, rows, out, where)

    # every chain verifies, over all of the instance's records (one row per distinct id: a
    # repeated id is its own failure above)
    per_instance = Counter(iid for iid, _ in {(r.instance_id, r.record_id) for r in records})

    def verify(iid: str) -> str | None:
        for _ in range(5):
            try:
                response = api.get(f"/api/instances/{iid}/verify")
            except httpx.TransportError:
                continue
            if response.status_code == 200:
                body = response.json()
                ok = body.get("ok") is True and body.get("rows") == per_instance[iid]
                return None if ok else iid
        return iid
    with ThreadPoolExecutor(4) as pool:
        unverified = {iid for iid in pool.map(verify, sorted(started)) if iid is not None}
    out.figures["chains verified"] = len(started) - len(unverified)
    out.fail("chain does not verify (or lacks rows)", unverified)

    with server.lock:
        keys = [r.headers.get("idempotency-key", "") for r in server.requests]
    side_effect_checks(keys, completed, out)
    return out


def engine_checks(records: list[Record], process_id: str, acknowledged: dict[str, str],
                  out: Outcome) -> tuple[set[str], set[str]]:
    """What `events` says of each instance; the instances started and those completed."""
    started = {r.instance_id for r in records if r.intent == "ELEMENT_ACTIVATED"
               and r.element_type == "process" and r.element_id == process_id}
    completed = Counter(r.instance_id for r in records if r.intent == "ELEMENT_COMPLETED"
                        and r.element_type == "process" and r.element_id == process_id)
    out.figures.update({
        "starts acknowledged (201)": len(acknowledged),
        "instances started (events)": len(started),
        "instances completed (events)": len(completed),
        "started twice (a start retried after a lost answer)":
            len(started - set(acknowledged.values())),
        "records on events": len(records),
        "rejections on events": sum(1 for r in records if r.kind.value == "REJECTION"),
    })
    out.fail("acknowledged start never started", set(acknowledged.values()) - started)
    out.fail("started but not completed", started - set(completed))
    out.fail("completed more than once", {i for i, n in completed.items() if n > 1})
    for intent, step in ONCE_EACH.items():
        n = Counter(r.instance_id for r in records
                    if r.intent == intent and r.instance_id in started)
        out.fail(f"{step} not exactly once", {i for i in completed if n[i] != 1})
    caught = Counter(r.instance_id for r in records if r.intent == "ELEMENT_COMPLETED"
                     and r.element_id == "go" and r.instance_id in started)
    out.fail("message caught not exactly once", {i for i in completed if caught[i] != 1})
    return started, set(completed)


def audit_checks(records: list[Record], rows: Counter[str], out: Outcome,
                 where: list[tuple[int, int, int]] | None = None) -> None:
    """One audit row per record of `events`, by record id (`rows`: id -> rows with it);
    `where` each record was read (partition, offset, timestamp) names a repeated id's copies."""
    on_events = Counter(r.record_id for r in records)
    out.figures["audit rows"] = sum(rows.values())
    out.figures["record ids on events twice"] = sum(1 for n in on_events.values() if n > 1)
    out.fail("record without an audit row", set(on_events) - set(rows))
    out.fail("audit row without a record", set(rows) - set(on_events))
    out.fail("audit row twice", {rid for rid, n in rows.items() if n > 1})
    described = {r.record_id: f"{r.record_id} ({r.kind.value} {r.intent} of {r.instance_id})"
                 for r in records}
    if where is not None:
        copies: dict[str, list[str]] = defaultdict(list)
        for r, (partition, offset, ts) in zip(records, where, strict=True):
            if on_events[r.record_id] > 1:
                copies[r.record_id].append(f"p{partition}@{offset} t{ts}")
        for rid, at in copies.items():
            described[rid] += f" at {', '.join(at)}"
    out.fail("record id twice on events (the audit keeps one row for both)",
             {described[rid] for rid, n in on_events.items() if n > 1})


def side_effect_checks(keys: list[str], completed: set[str], out: Outcome) -> None:
    """The far side's requests by Idempotency-Key (`<instance>:<jobKey>`; "" for none)."""
    per_key = Counter(keys)
    keys_of: dict[str, set[str]] = defaultdict(set)
    for key in per_key:
        if key:
            keys_of[key.rsplit(":", 1)[0]].add(key)
    out.figures.update({
        "side-effect requests": len(keys),
        "distinct idempotency keys": len([k for k in per_key if k]),
        "keys sent more than once (allowed)": sum(1 for k, n in per_key.items() if k and n > 1),
        "repeats with the same key (allowed)": sum(n - 1 for k, n in per_key.items()
                                                   if k and n > 1),
    })
    out.fail("side effect without an idempotency key",
             [f"({per_key['']} requests)"] if per_key[""] else [])
    out.fail("side effect twice with different keys",
             {iid for iid, ks in keys_of.items() if len(ks) > 1})
    out.fail("completed without its side effect", completed - set(keys_of))
