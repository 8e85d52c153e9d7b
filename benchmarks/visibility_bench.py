"""Data visibility and user-task completion latency: `python -m benchmarks.visibility_bench`.

The engine, audit and worklist services run as `make up` runs them (the e2e harness, its own
topics and schemas, dropped at the end); the process is start -> user task -> end.

1. visibility: START_INSTANCE at a paced `--rate`/s for `--seconds`; for every event the
   engine produces, its Kafka timestamp -> the moment its `audit_log` row is visible
   (committed) to another connection, and for every USER_TASK_CREATED -> its `tasks` row
   visible. When PostgreSQL keeps commit times (`track_commit_timestamp`, on in the local
   stack; `--visible-by auto`, the default, or `commit-time`), a row's time is its
   transaction's commit (`pg_xact_commit_timestamp(xmin)`), read once the rows are there;
   meanwhile this process asks only whether each partition's newest pending row exists,
   every 100 ms. Otherwise (`--visible-by watcher`) a watcher thread asks PostgreSQL every
   `--tick-ms` which of the pending rows exist (per partition, up to 32 sampled ids, the
   newest among them: a partition's rows commit in offset order, so the newest visible one
   proves every older one), so a row's time is when the answer came back: an upper bound,
   by at most one tick plus one query, and the watcher's queries load the server measured
   (at 500 starts/s PostgreSQL used 2.5-2.9 CPU s against 0.9-1.0 s without them, and the
   audit's p99 read 312-600 ms against 94-133 ms by commit time: docs/benchmarks.md,
   round 6). The ceiling next to it: the same events' Kafka timestamp -> read by a plain
   read_committed consumer in this process (poll, then drain what is there).
2. user-task completion: `--complete` of those open tasks, POST /api/tasks/{id}/complete
   at a paced `--complete-rate`/s on the worklist's own port (a real bearer token, as the
   tests make them), `--clients` requests in flight at most; request -> 200 (p50, p99)
   beside where the time went: request -> the command on `commands` (Kafka timestamp), the
   command -> the engine's USER_TASK_COMPLETED (the engine's share), that event -> the 200
   (the worklist's projection and its wait for the answer), split at the moment the tap
   read the event (event -> readable: the engine's transaction committing; readable -> 200:
   the worklist's batch, the request's wake-up, its query and the response). Beside them,
   from the completions only: the worklist's batches, its `answer_lag_seconds` histogram
   (event -> its transaction committed), and the CPU each service, the broker and PostgreSQL
   (all its backends; when they are this machine's, else "not local") and the worklist's
   busiest threads used. The CPU of the same processes during the starts is printed too.
   The watcher is stopped before the completions, and after them the raw one-hop floor
   (benchmarks/e2e/floor.py) runs at the completion rate: request -> 200 as a multiple
   of the least a Kafka hop costs here.
   `--starts-during N` starts N instances/s while the tasks are completed, so the worklist's
   batches hold creations beside the answers.

`--env KEY=VALUE` (repeatable) sets a service setting for the run (e.g. a poll interval), to
compare before and after in the same conditions. Needs the local stack (KAFKA_BOOTSTRAP_SERVERS,
DATABASE_URL, REDIS_URL); the stack is not started here.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from benchmarks.e2e import pct
from benchmarks.e2e.floor import chain_floor
from laneway.bpmn import LANEWAY_NS
from laneway.codec import DefinitionRecord, decode_record, encode_definition
from laneway.kafka import consumer_config
from laneway.records import Event, Record
from scripts.stack import Settings
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.usage import ServerCpu, servers
from services.worklist.projection import command_id_of, task_id
from tests.auth import auth_header
from tests.e2e.harness import PARTITIONS, Laneway, start_commands

DIAGRAM = """<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:laneway="{ns}" id="d" targetNamespace="t">
  <process id="{pid}" isExecutable="true">
    <startEvent id="s"/><userTask id="review" name="Review"/><endEvent id="e"/>
    <sequenceFlow id="f1" sourceRef="s" targetRef="review"/>
    <sequenceFlow id="f2" sourceRef="review" targetRef="e"/>
  </process>
</definitions>"""

SERVICES = ("engine", "audit", "worklist")
_SAMPLES = 32  # pending ids asked per partition and tick: bounds each query
_MAX_PENDING = 200_000  # events held for the watcher; the run stops waiting beyond this


def deploy(lw: Laneway, pid: str) -> None:
    """What the definitions service does on a deploy: the version on `definitions`."""
    xml = DIAGRAM.format(ns=LANEWAY_NS, pid=pid).encode()
    record = DefinitionRecord(pid, 1, xml, "bench", int(time.time() * 1000))
    producer = lw.producer()
    producer.produce(lw.topics.definitions, encode_definition(record), record.key.encode())
    assert producer.flush(30) == 0


@dataclass
class Pending:
    """Rows not visible yet, per partition in offset order: (offset, key, Kafka ts ms)."""

    rows: dict[int, list[tuple[int, str, int]]] = field(default_factory=dict)
    lags_ms: list[float] = field(default_factory=list)
    timed: list[tuple[int, float]] = field(default_factory=list)
    """(Kafka ts ms, lag ms) of each row seen: where in the run the lag was (`by_second`)."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, partition: int, offset: int, key: str, ts: int) -> None:
        with self.lock:
            self.rows.setdefault(partition, []).append((offset, key, ts))

    def count(self) -> int:
        with self.lock:
            return sum(len(v) for v in self.rows.values())

    def sample(self) -> dict[int, list[str]]:
        """Up to `_SAMPLES` keys per partition, evenly spaced, the newest last."""
        with self.lock:
            out: dict[int, list[str]] = {}
            for p, rows in self.rows.items():
                if rows:
                    step = max(1, len(rows) // _SAMPLES)
                    keys = [rows[i][1] for i in range(step - 1, len(rows), step)]
                    if keys[-1] != rows[-1][1]:
                        keys.append(rows[-1][1])
                    out[p] = keys
            return out

    def snapshot(self) -> tuple[list[str], list[str]]:
        """The pending keys, and the newest of each partition among them: once it is
        visible, every older one is."""
        with self.lock:
            return ([key for rows in self.rows.values() for _o, key, _ts in rows],
                    [rows[-1][1] for rows in self.rows.values() if rows])

    def committed(self, keys: Sequence[str], at_ms: Mapping[str, float | None]) -> None:
        """`keys` became visible when their transactions committed (`at_ms`, epoch ms, from
        PostgreSQL's commit timestamps); raises for one that has none."""
        missing = [key for key in keys if at_ms.get(key) is None]
        if missing:
            raise RuntimeError(f"Expected a commit timestamp for every row, but "
                               f"{len(missing)} have none (e.g. {missing[0]!r})")
        done = set(keys)
        with self.lock:
            for partition, rows in self.rows.items():
                kept = []
                for row in rows:
                    at = at_ms[row[1]] if row[1] in done else None
                    if at is None:
                        kept.append(row)
                    else:
                        self._lag(row[2], at)
                self.rows[partition] = kept

    def _lag(self, ts: int, visible_ms: float) -> None:
        """One row's lag: its event's Kafka timestamp -> visible (the lock is held)."""
        self.lags_ms.append(visible_ms - ts)
        self.timed.append((ts, visible_ms - ts))

    def seen(self, partition: int, upto_key: str, at: float) -> None:
        """Every row up to `upto_key` in the partition is visible at `at` (epoch s)."""
        with self.lock:
            rows = self.rows.get(partition, [])
            for i, (_offset, key, _ts) in enumerate(rows):
                if key == upto_key:
                    for _o, _k, ts in rows[:i + 1]:
                        self._lag(ts, 1000 * at)
                    del rows[:i + 1]
                    return


class Tap(threading.Thread):
    """A plain read_committed consumer of `events` (poll, then drain what is there): the
    ceiling, and the source of the rows the watcher waits for."""

    def __init__(self, bootstrap: str, topic: str, on_record: Callable[[Any, Record], None]
                 ) -> None:
        super().__init__(name="bench-tap", daemon=True)
        self.stop = threading.Event()
        self.on_record = on_record
        self.lags_ms: list[float] = []
        self.measuring = False
        self.records: list[tuple[Record, int, float]] = []
        """(record, Kafka ts ms, read at epoch s) of every record read while `measuring`."""
        # the client's own fetch wait (500 ms): the broker answers a fetch as soon as a
        # transaction's marker makes records readable, so a shorter one bought nothing but
        # polls; at 5 ms it sent the broker 200 empty fetches a second all run long, 14 % of
        # its requests during the completions (docs/benchmarks.md, round 7)
        self._consumer = Consumer({**consumer_config(bootstrap, unique_name("vis-tap")),
                                   "log_level": 0})
        self._consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in range(PARTITIONS)])

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                first = self._consumer.poll(0.05)
                if first is None:
                    continue
                batch = [first, *self._consumer.consume(1000, 0)]
                now = time.time()
                for msg in batch:
                    if msg.error() is not None:
                        continue
                    record = decode_record(msg.value() or b"")
                    ts = msg.timestamp()[1]
                    if self.measuring:
                        self.lags_ms.append(1000 * now - ts)
                        self.records.append((record, ts, now))
                    self.on_record(msg, record)
        finally:
            self._consumer.close()


_TARGETS = (("audit_log", "record_id"), ("tasks", "task_id"))
"""The tables whose rows are timed, and the key column (the audit's, then the worklist's)."""


def has_commit_timestamps(lw: Laneway) -> bool:
    """Whether PostgreSQL keeps each transaction's commit time (`track_commit_timestamp`)."""
    with lw.db() as conn:
        row = conn.execute("SHOW track_commit_timestamp").fetchone()
    return row is not None and row[0] == "on"


def wait_committed(lw: Laneway, pending: Sequence[Pending], done: Callable[[], bool],
                   timeout_s: float = 180) -> None:
    """Until `done()`: each round waits for each partition's newest pending row (a tiny query
    every 100 ms: a partition's rows commit in offset order), then reads every pending row's
    commit time (`pg_xact_commit_timestamp` of the transaction that wrote it). Nothing is
    asked more often than that, so this benchmark does not load the server it measures."""
    deadline = time.monotonic() + timeout_s
    with lw.db() as conn:
        def visible(newest: list[str], table: str, column: str) -> bool:
            found = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ANY(%s)",
                                 (newest,)).fetchone()
            return found is not None and int(found[0]) == len(newest)

        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                raise RuntimeError(f"Expected every row visible in {timeout_s:g} s")
            snaps = [rows.snapshot() for rows in pending]
            newest = [snap[1] for snap in snaps]
            wait_until(lambda newest=newest: all(  # type: ignore[misc]
                visible(n, *target) for n, target in zip(newest, _TARGETS, strict=True)),
                left, 0.1, "the newest rows visible")
            for rows, (keys, _newest), (table, column) in zip(pending, snaps, _TARGETS,
                                                              strict=True):
                at: dict[str, float | None] = {}
                for i in range(0, len(keys), 5000):
                    at.update((str(k), None if ms is None else float(ms)) for k, ms in
                              conn.execute(
                                  f"SELECT {column}, extract(epoch FROM pg_xact_commit_timestamp("
                                  f"xmin)) * 1000 FROM {table} WHERE {column} = ANY(%s)",
                                  (keys[i:i + 5000],)))
                rows.committed(keys, at)
            if not done():
                time.sleep(0.1)  # the tap is still reading the last events


class Watcher(threading.Thread):
    """Asks PostgreSQL every tick which pending rows are visible (see the module's doc)."""

    def __init__(self, lw: Laneway, tick_s: float,
                 targets: Sequence[tuple[Pending, str]]) -> None:
        super().__init__(name="bench-watcher", daemon=True)
        self.stop = threading.Event()
        self.lw, self.tick_s, self.targets = lw, tick_s, targets

    def run(self) -> None:
        with self.lw.db() as conn:
            while not self.stop.wait(self.tick_s):
                for pending, query in self.targets:
                    sample = pending.sample()
                    if not sample:
                        continue
                    keys = [k for ks in sample.values() for k in ks]
                    visible = {row[0] for row in conn.execute(query, (keys,))}
                    at = time.time()
                    for partition, ks in sample.items():
                        newest = next((k for k in reversed(ks) if k in visible), None)
                        if newest is not None:
                            pending.seen(partition, newest, at)


@dataclass
class Figures:
    audit: tuple[float, float, int]
    worklist: tuple[float, float, int]
    ceiling: tuple[float, float, int]
    completion: dict[str, tuple[float, float]] = field(default_factory=dict)
    completed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    loops: list[str] = field(default_factory=list)
    timeline: list[str] = field(default_factory=list)
    """The p99 of each second of the starts: whether the tail is one stall or the whole run."""
    completion_loops: list[str] = field(default_factory=list)
    """The worklist's batches and answer lag during the completions only."""
    timed_by: str = "commit time"
    """How a row's visibility was timed: its commit time, or the watcher's answer."""

    def show(self, rate: int, complete_rate: int) -> str:
        def line(name: str, f: tuple[float, float, int]) -> str:
            return f"  {name:<46} p50 {f[0]:6.0f} ms  p99 {f[1]:6.0f} ms  ({f[2]} rows)"
        out = [f"visibility at {rate} starts/s (event's Kafka timestamp -> ...; rows timed "
               f"by {self.timed_by}):",
               line("read by a read_committed consumer (ceiling)", self.ceiling),
               line("its audit_log row visible", self.audit),
               line("its worklist tasks row visible (USER_TASK_CREATED)", self.worklist),
               f"  ratio audit p99 / ceiling p99 {self.audit[1] / max(self.ceiling[1], 1):.1f}, "
               f"worklist p99 / ceiling p99 {self.worklist[1] / max(self.ceiling[1], 1):.1f}",
               *self.timeline, *self.loops]
        if self.completion:
            out.append(f"user-task completion at {complete_rate}/s, {self.completed} tasks, "
                       f"statuses {dict(sorted(self.statuses.items()))}:")
            for name, (p50, p99) in self.completion.items():
                out.append(f"  {name:<50} p50 {p50:6.0f} ms  p99 {p99:6.0f} ms")
            out += self.completion_loops
        return "\n".join(out)


def by_second(name: str, timed: Sequence[tuple[int, float]]) -> str:
    """`name`'s p99 lag (ms) per second of the events' Kafka timestamps, from the first."""
    if not timed:
        return f"  {name} p99 by second of the run: no rows"
    first = min(ts for ts, _ in timed)
    seconds: dict[int, list[float]] = {}
    for ts, lag in timed:
        seconds.setdefault((ts - first) // 1000, []).append(lag)
    return (f"  {name} p99 by second of the run (ms): "
            + ", ".join(f"{pct(seconds[k], 99):.0f}" for k in sorted(seconds)))


def _stats(values: Sequence[float]) -> tuple[float, float, int]:
    if not values:
        return (float("nan"), float("nan"), 0)
    return (statistics.median(values), pct(list(values), 99), len(values))


_LOOP_METRICS = ("batch_seconds_count", "batch_seconds_sum", "batch_records_sum",
                 "transaction_seconds_count", "transaction_seconds_sum")
# the engine's metrics have the same names: its batch is one Kafka transaction, and "in its
# transaction" is the commit's tail (the offsets' send and the commit after the last record)
_LOOPS = (("engine", "laneway_engine"), ("audit", "laneway_audit"),
          ("audit", "laneway_audit_instances"), ("worklist", "laneway_worklist"))


def loop_metrics(lw: Laneway) -> dict[str, float]:
    """The loops' batch metrics now (`loop_figures` takes the difference of two)."""
    return {f"{prefix}_{name}": lw.metric(service, f"{prefix}_{name}")
            for service, prefix in _LOOPS for name in _LOOP_METRICS}


def loop_figures(lw: Laneway, since: dict[str, float] | None = None,
                 loops: Sequence[tuple[str, str]] = _LOOPS) -> list[str]:
    """Each projection loop's batches (since `since`, else since start), from its service's
    metrics: how many, records per batch, time in a batch and in its transaction (means)."""
    out = []
    now = loop_metrics(lw)
    for _service, prefix in loops:
        def m(name: str, prefix: str = prefix) -> float:
            key = f"{prefix}_{name}"
            return now[key] - (since or {}).get(key, 0.0)
        batches = m("batch_seconds_count")
        if not batches:
            continue
        transactions = max(1.0, m("transaction_seconds_count"))
        out.append(f"  {prefix}: {batches:.0f} batches, {m('batch_records_sum') / batches:.0f} "
                   f"records each, {1000 * m('batch_seconds_sum') / batches:.1f} ms a batch, "
                   f"{1000 * m('transaction_seconds_sum') / transactions:.1f} ms in its "
                   "transaction")
    return out


def paced_starts(lw: Laneway, pid: str, rate: int, seconds: float) -> list[str]:
    """START_INSTANCE at `rate`/s, sent every 10 ms in the batch due by then."""
    producer = lw.producer()
    total = int(rate * seconds)
    ids = [str(uuid.uuid4()) for _ in range(total)]
    began = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - began) * rate) + 1)
        if due > sent:
            start_commands(producer, lw.topics, pid, ids[sent:due])
            sent = due
        time.sleep(0.005)
    return ids


def complete_tasks(lw: Laneway, tasks: list[str], rate: int, clients: int
                   ) -> tuple[dict[str, tuple[float, float]], dict[int, int]]:
    """POST complete for each task at `rate`/s; (task id -> (sent, answered) epoch s),
    status counts."""
    base = urlsplit(lw.url("worklist"))
    headers = {**auth_header("carla"), "Content-Type": "application/json"}
    body = json.dumps({"variables": {"ok": True}}).encode()
    local = threading.local()
    timings: dict[str, tuple[float, float]] = {}
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def one(tid: str) -> None:
        # the standard library's client, one kept-alive connection per thread: httpx cost
        # this process 2-3 ms of CPU a request, on the cores the services use
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is None:
            conn = local.conn = http.client.HTTPConnection(base.hostname or "127.0.0.1",
                                                           base.port, timeout=30)
        sent = time.time()
        conn.request("POST", f"/api/tasks/{tid}/complete", body, headers)
        response = conn.getresponse()
        response.read()
        done = time.time()
        with lock:
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status == 200:
                timings[tid] = (sent, done)

    began = time.monotonic()
    with ThreadPoolExecutor(clients) as pool:
        futures = []
        for n, tid in enumerate(tasks):
            delay = began + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one, tid))
        for f in futures:
            f.result()
    return timings, statuses


def run(workdir: Path, args: argparse.Namespace) -> Figures:
    env = dict(kv.split("=", 1) for kv in args.env)
    python = None
    if args.profile:
        # the audit and worklist processes under cProfile (their main thread: the sink and
        # the projection), the engine as it is
        python = str(workdir / "python-profile")
        Path(python).write_text(
            "#!/bin/sh\ncase \"$*\" in\n"
            f"  *services.audit*) exec {sys.executable} -m cProfile -o {workdir}/audit.prof "
            "\"$@\";;\n"
            f"  *services.worklist*) exec {sys.executable} -m cProfile -o "
            f"{workdir}/worklist.prof \"$@\";;\n"
            f"  *) exec {sys.executable} \"$@\";;\nesac\n")
        Path(python).chmod(0o755)
    lw = Laneway(bootstrap=os.environ["KAFKA_BOOTSTRAP_SERVERS"],
                 database_url=os.environ["DATABASE_URL"], redis_url=os.environ["REDIS_URL"],
                 workdir=workdir, services=SERVICES, job_types=("none",), env_overrides=env,
                 python=python)
    lw.start()
    try:
        pid = unique_name("vis").replace("-", "_")
        deploy(lw, pid)
        audit, worklist = Pending(), Pending()

        watching = threading.Event()  # rows are handed to the watcher (until completions)
        watching.set()

        def on_record(msg: Any, record: Record) -> None:
            if not tap.measuring or not watching.is_set():
                return
            p, o, ts = int(msg.partition() or 0), int(msg.offset() or 0), msg.timestamp()[1]
            if audit.count() < _MAX_PENDING:
                audit.add(p, o, record.record_id, ts)
            if record.intent == Event.USER_TASK_CREATED.value:
                worklist.add(p, o, task_id(record.instance_id, int(record.value["key"])), ts)

        tap = Tap(lw.bootstrap, lw.topics.events, on_record)
        tap.start()
        by_commit = args.visible_by != "watcher" and has_commit_timestamps(lw)
        if args.visible_by == "commit-time" and not by_commit:
            raise SystemExit("--visible-by commit-time needs PostgreSQL's "
                             "track_commit_timestamp on (the local stack sets it)")
        watcher = Watcher(lw, args.tick_ms / 1000, [
            (pending, f"SELECT {column} FROM {table} WHERE {column} = ANY(%s)")
            for pending, (table, column) in zip((audit, worklist), _TARGETS, strict=True)])
        if not by_commit:
            watcher.start()
        try:
            # one instance first: the definition is loaded and the groups have settled
            warm = paced_starts(lw, pid, 10, 0.1)
            with lw.db() as conn:
                wait_until(lambda: conn.execute(
                    "SELECT count(*) FROM tasks WHERE instance_id = ANY(%s)",
                    (warm,)).fetchone() == (len(warm),), 120, 0.1, "warm-up tasks")
            time.sleep(1.0)  # the tap's assignment has reached the end of every partition
            tap.measuring = True
            usage = Usage(lw)
            ids = paced_starts(lw, pid, args.rate, args.seconds)

            def all_seen() -> bool:
                return (audit.count() == 0 and worklist.count() == 0
                        and len(worklist.lags_ms) >= len(ids))

            if by_commit:
                wait_committed(lw, (audit, worklist), all_seen)
            else:
                wait_until(all_seen, 180, 0.1, "every row visible")
            usage.stop()
            figures = Figures(_stats(audit.lags_ms), _stats(worklist.lags_ms),
                              _stats(tap.lags_ms))
            figures.timed_by = "commit time" if by_commit else (
                f"the watcher every {args.tick_ms:g} ms: an upper bound, and its queries "
                "load the server")
            figures.timeline = [by_second(name, pending.timed)
                                for name, pending in (("audit", audit), ("worklist", worklist))]
            figures.loops = [*loop_figures(lw), usage.line(
                f"CPU during the starts, until every row was visible ({len(ids)} instances)")]
            # the watcher's queries (every tick) are this benchmark's load, not the
            # services': the completions are timed without them
            watching.clear()
            watcher.stop.set()
            if watcher.is_alive():
                watcher.join(10)
            if args.complete:
                (figures.completion, figures.completed, figures.statuses,
                 figures.completion_loops) = completions(lw, tap, ids, args, pid)
            return figures
        finally:
            watcher.stop.set()
            tap.stop.set()
            if watcher.is_alive():
                watcher.join(10)
            tap.join(10)
    finally:
        lw.close()


def completions(lw: Laneway, tap: Tap, ids: list[str], args: argparse.Namespace, pid: str
                ) -> tuple[dict[str, tuple[float, float]], int, dict[int, int], list[str]]:
    """Complete `args.complete` of the run's tasks (with `args.starts_during` starts/s going
    on meanwhile); the breakdown of where the time went."""
    with lw.db() as conn:
        tasks = [row[0] for row in conn.execute(
            "SELECT task_id FROM tasks WHERE instance_id = ANY(%s) AND state = 'open' "
            "ORDER BY created_at LIMIT %s", (ids, args.complete))]
    tap.records.clear()
    loops_before = loop_metrics(lw)
    usage = Usage(lw)
    threads_before = thread_cpu(lw.pid("worklist"))
    lag_before = histogram(lw, "worklist", _ANSWER_LAG)
    handed_before = lw.metric("worklist", _HANDED_OVER)
    commands = Consumer({**consumer_config(lw.bootstrap, unique_name("vis-cmd")),
                         "log_level": 0})
    commands.assign([TopicPartition(lw.topics.commands, p, OFFSET_END)
                     for p in range(PARTITIONS)])
    commands.poll(1.0)  # the assignment settles at the end before the first command
    starting = None
    if args.starts_during:
        # new instances meanwhile: the worklist's batches hold their USER_TASK_CREATED rows
        # beside the answers, as in a service that is busy while people complete tasks
        starting = threading.Thread(target=paced_starts, daemon=True, args=(
            lw, pid, args.starts_during, len(tasks) / args.complete_rate))
        starting.start()
    timings, statuses = complete_tasks(lw, tasks, args.complete_rate, args.clients)
    usage.stop()
    if starting is not None:
        starting.join(60)
    produced: dict[str, tuple[str, int]] = {}  # command id -> (instance, Kafka ts)
    deadline = time.monotonic() + 30
    while len(produced) < len(timings) and time.monotonic() < deadline:
        for msg in commands.consume(1000, 0.2):
            if msg.error() is None:
                rec = decode_record(msg.value() or b"")
                if rec.intent == "COMPLETE_USER_TASK":
                    produced[rec.record_id] = (rec.instance_id, msg.timestamp()[1])
    commands.close()
    answered = {command_id_of(rec): (ts, read) for rec, ts, read in list(tap.records)
                if rec.intent == Event.USER_TASK_COMPLETED.value}
    by_instance = {iid: (cid, ts) for cid, (iid, ts) in produced.items()}
    total, publish, engine, after, readable, woken = [], [], [], [], [], []
    split: list[tuple[float, float, tuple[float, ...]]] = []  # (total, sent, its four stages)
    for tid, (sent, done) in timings.items():
        total.append(1000 * (done - sent))
        found = by_instance.get(tid.rsplit(":", 1)[0])
        if found is None or found[0] not in answered:
            split.append((total[-1], sent, ()))
            continue
        cid, cmd_ts = found
        event_ts, read_at = answered[cid]
        publish.append(cmd_ts - 1000 * sent)
        engine.append(event_ts - cmd_ts)
        after.append(1000 * done - event_ts)
        readable.append(1000 * read_at - event_ts)
        woken.append(1000 * (done - read_at))
        split.append((total[-1], sent, (publish[-1], engine[-1], readable[-1], woken[-1])))
    lines = [*loop_figures(lw, loops_before, [("engine", "laneway_engine"),
                                              ("worklist", "laneway_worklist")])]
    lines += slowest(split, args.worst)
    lines.append(usage.line(f"CPU during the completions ({len(timings)} tasks)"))
    threads = thread_cpu(lw.pid("worklist"))
    main = lw.pid("worklist")
    busiest = sorted(((cpu - threads_before.get(tid, ("", 0.0))[1],
                       "main" if tid == main else f"{name}:{tid}")
                      for tid, (name, cpu) in threads.items()), reverse=True)
    lines.append(f"  the worklist's threads ({len(busiest)}), the busiest: " + ", ".join(
        f"{name} {cpu:.2f} s" for cpu, name in busiest[:6]))
    handed = lw.metric("worklist", _HANDED_OVER) - handed_before
    lines.append(f"  answers handed over by the worklist's projection ({_HANDED_OVER}): "
                 f"{handed:.0f} of {len(timings)}")
    lag = histogram(lw, "worklist", _ANSWER_LAG, lag_before)
    if lag:
        lines.append(f"  {_ANSWER_LAG} (event -> its transaction committed): "
                     f"{lag_summary(lag)}")
    return ({"request -> 200": _stats(total)[:2],
             "  request -> command on Kafka": _stats(publish)[:2],
             "  command -> USER_TASK_COMPLETED (engine)": _stats(engine)[:2],
             "  USER_TASK_COMPLETED -> 200 (projection, wait)": _stats(after)[:2],
             "    event -> readable (the tap, read_committed)": _stats(readable)[:2],
             "    readable -> 200 (worklist's batch, wake, answer)": _stats(woken)[:2]},
            len(timings), statuses, lines)


def slowest(split: Sequence[tuple[float, float, tuple[float, ...]]], worst: int
            ) -> list[str]:
    """The `worst` slowest completions, each split into its four stages, with when it was
    sent: the slowest sent together were held up by one stall; spread out, by the load."""
    if worst <= 0 or not split:
        return []
    began = min(sent for _total, sent, _stages in split)
    out = [f"  the {min(worst, len(split))} slowest (sent at +s and UTC: request -> 200 = to "
           "Kafka + engine + to readable + readable -> 200, ms):"]
    for total, sent, stages in sorted(split, reverse=True)[:worst]:
        parts = " + ".join(f"{ms:.0f}" for ms in stages) if stages else "not split"
        clock = time.strftime("%H:%M:%S", time.gmtime(sent)) + f".{int(sent * 1000) % 1000:03d}"
        out.append(f"    +{sent - began:6.2f}s {clock}  {total:4.0f} = {parts}")
    return out


_ANSWER_LAG = "laneway_worklist_answer_lag_seconds"
_HANDED_OVER = "laneway_worklist_answers_handed_over_total"


class Usage:
    """The CPU of the services, this process, the broker and PostgreSQL from construction to
    `stop()` (the end of what is timed: the bookkeeping after it, the metrics' scrapes and
    the decoding of what was read, is not the run's load)."""

    def __init__(self, lw: Laneway) -> None:
        # this process too (its HTTP clients, the tap, the watcher): its load is the
        # services' contention on the same cores
        self.pids = {**{name: lw.pid(name) for name in SERVICES}, "benchmark": os.getpid()}
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.servers = ServerCpu(servers(Settings.from_env(), lw.bootstrap, lw.database_url))
        self.used: dict[str, float | None] | None = None

    def stop(self) -> None:
        """Take the figures now (once; `line()` takes them if this was not called)."""
        if self.used is None:
            self.used = {name: cpu_seconds(pid) - self.before[name]
                         for name, pid in self.pids.items()}
            self.used.update(self.servers.seconds())

    def line(self, title: str) -> str:
        self.stop()
        assert self.used is not None
        parts = [f"{name} {seconds:.2f} s" for name, seconds in self.used.items()
                 if seconds is not None]
        notes = self.servers.notes()
        return f"  {title}: " + ", ".join(parts) + (f" ({notes})" if notes else "")


def thread_cpu(pid: int) -> dict[int, tuple[str, float]]:
    """Each thread's name and CPU time so far (user + system), from /proc."""
    out: dict[int, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended
        name = stat.split("(", 1)[1].rsplit(")", 1)[0]
        fields = stat.rsplit(")", 1)[1].split()
        out[int(task.name)] = (name, (int(fields[11]) + int(fields[12]))
                               / os.sysconf("SC_CLK_TCK"))
    return out


def cpu_seconds(pid: int) -> float:
    """A process's CPU time so far (user + system, all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def histogram(lw: Laneway, service: str, name: str, since: dict[float, float] | None = None
              ) -> dict[float, float]:
    """A histogram's cumulative bucket counts (upper bound s -> count) on the service's
    /metrics, less `since`'s; empty when the service has no such metric."""
    text = httpx.get(f"{lw.url(service)}/metrics", timeout=5).text
    out: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(f"{name}_bucket{{"):
            le = line.split('le="', 1)[1].split('"', 1)[0]
            out[float(le)] = float(line.rsplit(" ", 1)[1]) - (since or {}).get(float(le), 0.0)
    return out


def lag_summary(buckets: dict[float, float]) -> str:
    """Count, and the bucket bounds the p50 and p99 fall under."""
    bounds = sorted(buckets)
    count = buckets[bounds[-1]] if bounds else 0.0

    def under(q: float) -> str:
        for b in bounds:
            if buckets[b] >= q * count:
                return f"<= {1000 * b:.0f} ms" if b != float("inf") else "> last bucket"
        return "?"
    return f"{count:.0f} answers, p50 {under(0.5)}, p99 {under(0.99)}"


def profile_top(path: Path, name: str, top: int = 20) -> str:
    """The top functions of a service's main thread by own time."""
    if not path.exists():
        return f"{name}: no profile written"
    raw: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows = sorted(((tt, ct, f"{Path(file).name}:{line}:{func}")
                   for (file, line, func), (_cc, _nc, tt, ct, _callers) in raw.items()),
                  reverse=True)
    total = sum(tt for tt, _, _ in rows) or 1.0
    lines = [f"{name} main thread, by own time, top {top}:"]
    lines += [f"  {tt:7.2f}s own {100 * tt / total:5.1f}%  {ct:7.2f}s cum  {label}"
              for tt, ct, label in rows[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.visibility_bench",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=500, help="starts per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="how long to start them")
    parser.add_argument("--complete", type=int, default=500,
                        help="tasks completed through the worklist's API (0: none)")
    parser.add_argument("--complete-rate", type=int, default=100, help="completions per second")
    parser.add_argument("--clients", type=int, default=16, help="requests in flight at most")
    parser.add_argument("--starts-during", type=int, default=0,
                        help="starts per second while the tasks are completed (0: none)")
    parser.add_argument("--visible-by", choices=("auto", "commit-time", "watcher"),
                        default="auto",
                        help="when a row became visible: its transaction's commit time "
                             "(PostgreSQL's track_commit_timestamp; `auto` when it is on) "
                             "or the watcher's answer")
    parser.add_argument("--tick-ms", type=float, default=10.0, help="the watcher's interval")
    parser.add_argument("--runs", type=int, default=1, help="runs, each on fresh services")
    parser.add_argument("--worst", type=int, default=0,
                        help="print the N slowest completions, each split into its stages")
    parser.add_argument("--profile", action="store_true",
                        help="the audit and worklist processes under cProfile; their top "
                             "functions (cProfile slows them down)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="a service setting for the run (repeatable)")
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 5000 or not 0 < args.seconds <= 120 or args.complete < 0 \
            or not 0 < args.complete_rate <= 1000 or not 0 < args.clients <= 128 \
            or not 0 <= args.starts_during <= 5000 or not 0 <= args.worst <= 1000:
        parser.error("rate 1-5000, seconds up to 120, complete-rate 1-1000, clients 1-128, "
                     "starts-during 0-5000, worst 0-1000")
    for n in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="laneway-vis-bench-") as tmp:
            began = time.monotonic()
            figures = run(Path(tmp), args)
            print(f"run {n + 1}/{args.runs} ({time.monotonic() - began:.0f}s)"
                  + (f" with {' '.join(args.env)}" if args.env else ""), flush=True)
            print(figures.show(args.rate, args.complete_rate), flush=True)
            if figures.completion:
                # the Kafka part of a completion with nothing in it, after the services
                # stopped: the least a completion's p99 can be on this machine at that rate
                floor = chain_floor(os.environ["KAFKA_BOOTSTRAP_SERVERS"], args.complete_rate,
                                    args.complete / args.complete_rate, PARTITIONS, hops=1)
                total = figures.completion["request -> 200"]
                print(f"  {floor.show()}\n  request -> 200 / the raw hop: p50 "
                      f"{total[0] / floor.p50_ms:.1f}x, p99 {total[1] / floor.p99_ms:.1f}x",
                      flush=True)
            if args.starts_during:
                print(f"  (completions with {args.starts_during} starts/s going on)",
                      flush=True)
            if args.profile:
                for name in ("audit", "worklist"):
                    print(profile_top(Path(tmp) / f"{name}.prof", name), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
