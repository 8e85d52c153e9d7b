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
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaException, Message, Producer, TopicPartition

from laneway.codec import decode_job, encode_record
from laneway.kafka import consumer_config, producer_config
from laneway.records import Command, Record
from laneway.topics import Topics
from scripts.stack import Settings as StackSettings
from scripts.stack.testing import unique_name
from scripts.stack.topics import ensure_topics
from tests.e2e.harness import WORKER, Completions, Laneway, TopicReader, command_record

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


class NoopWorker:
    """Answers every job of a type with COMPLETE_JOB (no variables) as soon as it is read:
    blocks for the first job, takes what else is buffered, produces the answers, waits for
    their acknowledgement and commits the jobs' offsets (at least once, as the harness's
    worker; the engine refuses a repeat)."""

    def __init__(self, bootstrap: str, topics: Topics, job_type: str,
                 poll_s: float = 0.05) -> None:
        self.topics = topics
        self.answered = 0
        self.error: BaseException | None = None
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._consumer = Consumer({**consumer_config(bootstrap, unique_name("bench-worker")),
                                   "log_level": 0})
        self._consumer.subscribe([topics.jobs(job_type)])
        self._producer = Producer({**producer_config(bootstrap), "log_level": 0})
        self._thread = threading.Thread(target=self._run, daemon=True, name="bench-worker")
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
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
                while self._producer.flush(1) and not self._stop.is_set():
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
        self._thread.join(30)
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()
        assert self.error is None, f"the benchmark's worker failed: {self.error!r}"


@contextlib.contextmanager
def noop_worker(bootstrap: str, topics: Topics, job_type: str) -> Iterator[NoopWorker]:
    worker = NoopWorker(bootstrap, topics, job_type)
    try:
        yield worker
    finally:
        worker.close()


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
