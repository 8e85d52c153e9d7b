"""The benchmark's own clients: a Laneway with a chosen partition count, a reader and a no-op
job worker that hand a record on as soon as it is there, and the paced starter.

The test harness's reader and worker (`tests.e2e.harness`) call `consume(n, timeout)`, which
waits out the whole timeout whenever fewer than `n` records are there: at a low rate each of
them would add its poll interval to every instance's latency, and the benchmark would measure
its own clients. These block in `poll(timeout)` for the first record only and then take what
is already buffered (`consume(n, 0)`), as the engine and the connectors do.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from laneway.codec import decode_job, decode_record, encode_record
from laneway.kafka import admin_config, consumer_config, producer_config
from laneway.records import Command, Event, Record
from laneway.topics import Topics
from scripts.stack import Settings as StackSettings
from scripts.stack.config import REPO_ROOT
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.topics import ensure_topics
from tests.e2e.harness import (
    WORKER,
    Completions,
    Laneway,
    TopicReader,
    command_record,
    is_done,
)

MAX_BATCH = 5000
"""The most records one read takes from the local queue."""


@dataclass
class BenchLaneway(Laneway):
    """A Laneway whose topics have `partitions` partitions (the harness's have 4)."""

    partitions: int = 4

    def create_topics(self) -> None:
        ensure_topics(StackSettings.from_env({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "LANEWAY_TOPIC_PREFIX": self.prefix,
            "LANEWAY_PARTITIONS": str(self.partitions),
            "LANEWAY_JOB_TYPES": ",".join(self.job_types)}))


class PromptReader(TopicReader):
    """A TopicReader that returns as soon as a record is there (its time read is then when
    it arrived, not when a batch filled up or the timeout ran out)."""

    def poll(self, timeout: float = 0.05) -> list[Any]:
        consumer = self._consumer
        first = consumer.poll(timeout)
        if first is None:
            return self.items
        batch = [first, *consumer.consume(MAX_BATCH - 1, timeout=0)]
        for _ in range(10_000):  # bounded: a reader far behind catches up over several calls
            now = time.time()
            for msg in batch:
                if msg.error() is None:
                    self.items.append(self.decode(msg.value() or b""))
                    self.meta.append((int(msg.partition() or 0), int(msg.offset() or 0),
                                      msg.timestamp()[1]))
                    self.seen_at.append(now)
            if len(batch) < MAX_BATCH:
                break
            batch = consumer.consume(MAX_BATCH, timeout=0)
        return self.items


DONE_MARK = Event.ELEMENT_COMPLETED.value.encode()
"""In the body of every completion: `intent` is an Avro string in every Record schema version
(the worklist's prefilter relies on the same; tests/unit/test_worklist_prefilter.py)."""


class LazyCompletions(Completions):
    """Completions over a reader that keeps each event's bytes (`decode=raw`): it decodes only
    the events whose body names ELEMENT_COMPLETED (4 of about 12 per instance). Decoding every
    event was most of the benchmark process's own CPU (cProfile of a burst of 3,000: 54,000
    decodes, about two thirds of it), on the cores the engine needs.

    `wait` keeps the ids still missing and takes out the ones each read completed, instead of
    comparing every id with every completion each round (a round per read at a burst)."""

    def __init__(self, reader: TopicReader) -> None:
        super().__init__(reader)
        self._fresh: list[str] = []

    def update(self, timeout: float = 0.05) -> int:
        items = self.reader.poll(timeout)
        for i in range(self._upto, len(items)):
            raw = items[i]
            if DONE_MARK not in raw:
                continue
            r = decode_record(raw)
            if not is_done(r):
                continue
            iid = r.instance_id
            self.done[iid] += 1
            if iid not in self.done_at:  # the first completion read (as Completions)
                self.done_at[iid] = self.reader.seen_at[i]
                self.produced_at[iid] = self.reader.meta[i][2] / 1000
                self._fresh.append(iid)
        self._upto = len(items)
        return len(self.done)

    def wait(self, ids: Iterable[str], timeout: float, message: str = "instances completed",
             on_timeout: Callable[[], str] | None = None,
             tick: Callable[[], object] | None = None) -> None:
        missing = set(ids).difference(self.done_at)
        self._fresh.clear()
        deadline = time.monotonic() + timeout
        while missing:
            if tick is not None:
                tick()
            self.update(0.05)  # the consumer's wait is the poll interval: no sleep
            missing.difference_update(self._fresh)
            self._fresh.clear()
            if missing and time.monotonic() >= deadline:
                extra = on_timeout() if on_timeout else ""
                raise AssertionError(f"{message}: {len(missing)} not completed within "
                                     f"{timeout:.0f}s\n{extra}")


def raw(value: bytes) -> bytes:
    """A reader's `decode` that keeps the bytes (LazyCompletions decodes what it needs)."""
    return value


class NoopWorker:
    """Answers every job of a type with COMPLETE_JOB (no variables) as soon as it is read:
    blocks for the first job, takes what else is buffered, produces the answers, waits for
    their acknowledgement and commits the jobs' offsets (at least once, as the harness's
    worker; the engine refuses a repeat).

    `thread`: run in a daemon thread of this process (the benchmark's `--worker-procs 0`);
    otherwise the caller runs `run` (the worker process, `benchmarks.e2e.worker`)."""

    def __init__(self, bootstrap: str, topics: Topics, job_type: str,
                 poll_s: float = 0.05, group: str | None = None, thread: bool = True) -> None:
        self.topics = topics
        self.answered = 0
        self.error: BaseException | None = None
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._consumer = Consumer({**consumer_config(bootstrap,
                                                     group or unique_name("bench-worker")),
                                   "log_level": 0})
        self._consumer.subscribe([topics.jobs(job_type)])
        self._producer = Producer({**producer_config(bootstrap), "log_level": 0})
        self._thread: threading.Thread | None = None
        if thread:
            self._thread = threading.Thread(target=self.run, daemon=True, name="bench-worker")
            self._thread.start()

    def run(self, stopping: Callable[[], bool] | None = None) -> None:
        """Answer jobs until `close` (or `stopping()` says so, checked at least every
        poll_s)."""
        def stopped() -> bool:
            return self._stop.is_set() or (stopping is not None and stopping())

        try:
            while not stopped():
                first = self._consumer.poll(self._poll_s)
                if first is None:
                    continue
                msgs = [m for m in [first, *self._consumer.consume(MAX_BATCH, timeout=0)]
                        if m.error() is None]
                for msg in msgs:
                    job = decode_job(msg.value() or b"")
                    self._send(command_record(Command.COMPLETE_JOB, job.instance_id,
                                              {"jobKey": job.key, "variables": {}}, WORKER))
                # flush sends at once (it does not wait out linger.ms) and returns on the acks
                while self._producer.flush(1) and not stopped():
                    pass
                self.answered += len(msgs)
                self._commit(msgs)
        except BaseException as exc:
            self.error = exc
            raise

    def _send(self, cmd: Record) -> None:
        topic, key = self.topics.route(cmd)
        while True:
            try:
                self._producer.produce(topic, encode_record(cmd), key.encode())
                return
            except BufferError:
                self._producer.poll(0.05)

    def _commit(self, msgs: list[Message]) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            last[(str(m.topic()), int(m.partition() or 0))] = int(m.offset() or 0)
        with contextlib.suppress(KafkaException):  # a rebalance: redelivered, refused
            self._consumer.commit(offsets=[TopicPartition(t, p, o + 1)
                                           for (t, p), o in last.items()], asynchronous=True)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()
        assert self.error is None, f"the benchmark's worker failed: {self.error!r}"


@dataclass
class Workers:
    """The no-op workers of a run: their process ids (for their CPU), empty when the worker is
    a thread of this process."""

    pids: list[int] = field(default_factory=list)


WORKER_STOP_S = 30.0
"""How long a worker process has to stop after SIGTERM before it is killed."""


@contextlib.contextmanager
def noop_worker(bootstrap: str, topics: Topics, job_type: str,
                procs: int = 1) -> Iterator[Workers]:
    """`procs` worker processes (`python -m benchmarks.e2e.worker`) in one consumer group,
    or with 0 the worker as a thread of this process (as before issue 16: for an A/B).

    The processes are stopped on every way out of the block (SIGTERM, then SIGKILL after
    WORKER_STOP_S); each also stops by itself when this process is gone or after an hour.
    Leaving the block normally raises when a worker failed."""
    if procs == 0:
        worker = NoopWorker(bootstrap, topics, job_type)
        try:
            yield Workers()
        finally:
            worker.close()
        return
    group = unique_name("bench-worker")
    started: list[subprocess.Popen[str]] = []
    failed = False
    try:
        for _ in range(procs):
            started.append(subprocess.Popen(
                [sys.executable, "-m", "benchmarks.e2e.worker", "--bootstrap", bootstrap,
                 "--prefix", topics.prefix, "--job-type", job_type, "--group", group,
                 "--parent-pid", str(os.getpid())],
                cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True))
        wait_for_group(bootstrap, group, procs, started)
        yield Workers([p.pid for p in started])
    except BaseException:
        failed = True
        raise
    finally:
        outcomes = [_stop(p) for p in started]
    if not failed:
        bad = [o for o in outcomes if o[0] != 0]
        assert not bad, f"the benchmark's worker process failed: {bad}"


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """SIGTERM, then SIGKILL if it has not stopped in WORKER_STOP_S: (exit code, stdout)."""
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=WORKER_STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=WORKER_STOP_S)
    return int(proc.returncode), (out or "").strip()


def wait_for_group(bootstrap: str, group: str, members: int,
                   procs: list[subprocess.Popen[str]], timeout: float = 120.0) -> None:
    """Until the group is stable with `members` members that each own partitions, so no
    rebalance pauses the run's first jobs (fails at once when a worker process exited)."""
    admin = AdminClient(admin_config(bootstrap))

    def settled() -> bool:
        dead = [p.returncode for p in procs if p.poll() is not None]
        assert not dead, f"a worker process exited with {dead} before the run"
        try:
            described = admin.describe_consumer_groups([group], request_timeout=10)[group]
            desc = described.result(timeout=10)
        except KafkaException:
            return False  # not there yet
        return (desc.state == ConsumerGroupState.STABLE and len(desc.members) == members
                and all(m.assignment.topic_partitions for m in desc.members))

    wait_until(settled, timeout, 0.1, f"the worker group {group} stable with {members} members")


def paced_starts(producer: Producer, topics: Topics, done: Completions, pid: str, rate: int,
                 seconds: float) -> dict[str, int]:
    """START_INSTANCE at `rate`/s for `seconds`, each produced on its own at its time (no
    flush per start, which would cap the rate at one broker round trip each); reads
    completions while waiting. Instance id -> the start's timestamp (ms)."""
    started: dict[str, int] = {}
    began = time.monotonic()
    for n in range(int(rate * seconds)):
        due = began + n / rate
        while (left := due - time.monotonic()) > 0:
            done.update(min(0.002, left))
        iid = str(uuid.uuid4())
        cmd = command_record(Command.START_INSTANCE, iid, {"processId": pid, "variables": {}})
        topic, key = topics.route(cmd)
        while True:
            try:
                producer.produce(topic, encode_record(cmd), key.encode())
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
        started[iid] = cmd.timestamp
    assert producer.flush(60) == 0
    return started
