"""A whole Laneway for end-to-end tests and the e2e benchmark: every service as a subprocess.

`Laneway` runs `python -m services.<name>` through the same supervisor as `make up`
(`scripts.services`: pid files, logs, health with a deadline), on free ports, with the same
edge in front (nginx with the path table, `scripts.edge`: `public_url`), under a topic prefix
and a PostgreSQL schema base of its own (each service's schema is `<base>_<service>`; the
topics are created here, as `make up` does), so it never meets the developer's services or
another test. A second process of a service (a
second engine replica, another connector worker) is one more supervisor of the same settings
with its own port, pid file and log.

Clients for the tests: a producer of commands, a reader of `events` (read_committed), a job
worker that completes the jobs of one type, and a PostgreSQL connection in the schema.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from psycopg import sql

from laneway.codec import decode_job, decode_record, encode_record
from laneway.kafka import consumer_config, producer_config
from laneway.records import SYSTEM, Command, Principal, PrincipalKind, Record, command
from laneway.service_schemas import SERVICES_WITH_TABLES, schema_name
from laneway.topics import Topics
from scripts.edge import HTTP_SERVICES, Edge
from scripts.services import ServiceError, Supervisor, down, up
from scripts.services.health import probe, probe_live
from scripts.stack import Settings as StackSettings
from scripts.stack.config import StackError
from scripts.stack.testing import unique_name, wait_until
from scripts.stack.topics import ensure_topics
from tests.auth import ADMIN, auth_env
from tests.lifecycle import AUTHOR, authorize
from tests.ports import free_port

PARTITIONS = 4
ALL = ("engine", "definitions", "audit", "connectors")
WORKER = Principal(PrincipalKind.AGENT, "worker:e2e")


def history(api: httpx.Client, iid: str) -> list[dict[str, Any]]:
    """The audit's history of `iid` through the API, or [] until the audit has it."""
    response = api.get(f"/api/instances/{iid}/history", params={"limit": 1000})
    return list(response.json()["events"]) if response.status_code == 200 else []


def now_ms() -> int:
    return int(time.time() * 1000)


# Settings that make a crash cheap to recover from in a test: a dead member's partitions are
# handed over after 6 s (the broker's minimum) instead of 45 s.
FAST_ENV = {
    "LANEWAY_ENGINE_POLL_S": "0.05",
    "LANEWAY_ENGINE_SESSION_TIMEOUT_MS": "6000",
    "LANEWAY_ENGINE_REPLICA": "e1",
    # a loop that stops polling (the engine blocked in librdkafka after a broker restart) shows
    # on /health this soon, for `revive` to restart it
    "LANEWAY_STALL_S": "20",
    "LANEWAY_AUDIT_SESSION_TIMEOUT_MS": "6000",
    "LANEWAY_AUDIT_POLL_S": "0.05",
    "LANEWAY_CONNECTOR_TYPES": "http,email",
    "LANEWAY_CONNECTOR_SESSION_TIMEOUT_MS": "6000",
    "LANEWAY_CONNECTOR_POLL_S": "0.05",
    "LANEWAY_CONNECTOR_SHUTDOWN_GRACE_S": "3",
    "LANEWAY_BRIDGE_POLL_S": "0.05",
    "LANEWAY_BRIDGE_SESSION_TIMEOUT_MS": "6000",
    "LANEWAY_STARTUP_TIMEOUT_S": "60",
}


@dataclass
class Laneway:
    """One Laneway: its services, topics and schema. Use as a context manager."""

    bootstrap: str
    database_url: str
    redis_url: str
    workdir: Path
    services: tuple[str, ...] = ALL
    job_types: tuple[str, ...] = ("http", "email")
    env_overrides: Mapping[str, str] = field(default_factory=dict)
    prefix: str = field(default_factory=lambda: unique_name("e2e") + ".")
    schema: str = field(default_factory=lambda: unique_name("e2e").replace("-", "_"))
    python: str | None = None
    otlp_endpoint: str = ""
    """Where the services export their spans (the stack's Jaeger, OTLP/HTTP); empty: none."""
    supervisor: Supervisor = field(init=False)
    edge: Edge = field(init=False)
    extras: list[Supervisor] = field(default_factory=list, init=False)
    revived: list[str] = field(default_factory=list, init=False)
    _unhealthy_since: dict[str, float] = field(default_factory=dict, init=False)
    _last_probe: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LANEWAY_") and k not in {"KAFKA_BOOTSTRAP_SERVERS",
                                                             "DATABASE_URL", "REDIS_URL"}}
        env.update({"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "DATABASE_URL": self.database_url,
                    "REDIS_URL": self.redis_url, "LANEWAY_TOPIC_PREFIX": self.prefix,
                    "LANEWAY_DB_SCHEMA": self.schema, "PYTHONUNBUFFERED": "1", **FAST_ENV})
        env.update(auth_env())  # the session's key (tests/auth.py) verifies the tests' tokens
        # the triggers service encrypts schedules' credentials with it (docs/triggers.md)
        env["LANEWAY_SECRET_TRIGGERS_CREDENTIALS_KEY"] = secrets.token_hex(32)
        env["LANEWAY_TRIGGERS_DATA_DIR"] = str(self.workdir / "triggers")
        if self.otlp_endpoint:
            env.update({"OTEL_EXPORTER_OTLP_ENDPOINT": self.otlp_endpoint,
                        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"})
        env.update(self.env_overrides)
        self.supervisor = Supervisor(run_dir=self.workdir / "run", logs_dir=self.workdir / "logs",
                                     env=env, ports={n: free_port() for n in self.services},
                                     stop_grace_s=15.0, python=self.python or sys.executable)
        # the edge routes to every HTTP service; one this Laneway does not run has a port
        # nothing listens on (a request there is a 502, as with a service that is down)
        upstreams = {n: self.supervisor.ports.get(n) or free_port() for n in HTTP_SERVICES}
        self.edge = Edge(free_port(), upstreams, home=self.workdir / "edge",
                         run_dir=self.workdir / "run", logs_dir=self.workdir / "logs",
                         allow_install=StackSettings.from_env().allow_install,
                         environ=env)

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def topics(self) -> Topics:
        return Topics(self.prefix)

    def create_topics(self) -> None:
        """The Laneway topics under this prefix, as `make up` creates them."""
        ensure_topics(StackSettings.from_env({
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "LANEWAY_TOPIC_PREFIX": self.prefix,
            "LANEWAY_PARTITIONS": str(PARTITIONS), "LANEWAY_JOB_TYPES": ",".join(self.job_types)}))

    def start(self, timeout: float = 90.0) -> Laneway:
        """Create the topics, start every service and wait until each answers 200 on /health;
        then the edge in front of them."""
        self.create_topics()
        try:
            up(self.supervisor, list(self.services), timeout, self.edge)
        except ServiceError:
            self.close()
            raise
        return self

    def __enter__(self) -> Laneway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, drop: bool = True) -> None:
        """Stop every process; drop the topics and the schemas."""
        for sup in [*self.extras, self.supervisor]:
            with contextlib.suppress(ServiceError, StackError):
                down(sup, list(sup.ports), self.edge if sup is self.supervisor else None)
        if not drop:
            return
        with contextlib.suppress(KafkaException):
            admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
            names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(self.prefix)]
            if names:
                for future in admin.delete_topics(names, operation_timeout=30).values():
                    with contextlib.suppress(KafkaException):
                        future.result(timeout=30)
        with contextlib.suppress(psycopg.Error), psycopg.connect(self.database_url,
                                                                 autocommit=True) as conn:
            for name in self.schemas:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(name)))

    # -- processes ----------------------------------------------------------------------------

    def url(self, name: str = "definitions") -> str:
        """A service's own port (health, metrics)."""
        return self.supervisor.url(name)

    @property
    def public_url(self) -> str:
        """The one public URL: the edge, which routes each path to its service."""
        return self.edge.url

    @property
    def schemas(self) -> list[str]:
        """Each service's schema under this Laneway's base."""
        return [schema_name(self.schema, name) for name in SERVICES_WITH_TABLES]

    def pid(self, name: str, sup: Supervisor | None = None) -> int:
        pid = (sup or self.supervisor).pid(name)
        assert pid is not None, f"{name} is not running"
        return pid

    def kill(self, name: str, sup: Supervisor | None = None) -> int:
        """SIGKILL the service's process group (no goodbye to Kafka or PostgreSQL)."""
        s = sup or self.supervisor
        pid = self.pid(name, s)
        os.killpg(pid, signal.SIGKILL)
        wait_until(lambda: s.pid(name) is None, 15, 0.05, f"{name} (pid {pid}) gone")
        return pid

    def restart(self, name: str, sup: Supervisor | None = None, timeout: float = 90.0) -> None:
        """Start the service again (as an orchestrator would) and wait for its health."""
        up(sup or self.supervisor, [name], timeout)

    def revive(self, liveness_s: float = 10.0) -> list[str]:
        """An orchestrator's restart policy and liveness probe: start again every service
        whose process exited (a service exits 1 on an error it cannot recover from and
        expects to be restarted), and restart one whose /health has failed for `liveness_s`
        (the engine's turns 503 when its loop has not gone round for 30 s). Checks health at
        most once a second. The names restarted, also kept in `revived`."""
        now = time.monotonic()
        restarted = [name for name in self.services if self.supervisor.pid(name) is None]
        if now - self._last_probe >= 1.0:
            self._last_probe = now
            for name in self.services:
                # the old single /health (now readiness) as before, and liveness: a loop stuck
                # in a librdkafka call after a broker restart fails /health/live
                port = self.supervisor.ports[name]
                if name in restarted or (self.healthy(name) and probe_live(port) == "ok"):
                    self._unhealthy_since.pop(name, None)
                    continue
                since = self._unhealthy_since.setdefault(name, now)
                if now - since >= liveness_s:
                    self.supervisor.stop(name)  # SIGTERM, SIGKILL after the grace period
                    restarted.append(name)
        if restarted:
            for name in restarted:
                self._unhealthy_since.pop(name, None)
            up(self.supervisor, restarted, 90)
        self.revived.extend(restarted)
        return restarted

    def add(self, name: str, tag: str, timeout: float = 90.0, **env: str) -> Supervisor:
        """Another process of a service (a replica) with its own port, pid file and log."""
        sup = Supervisor(run_dir=self.workdir / f"run-{tag}", logs_dir=self.workdir / f"logs-{tag}",
                         env={**self.supervisor.env, **env}, ports={name: free_port()},
                         stop_grace_s=15.0, python=self.supervisor.python)
        self.extras.append(sup)
        up(sup, [name], timeout)
        return sup

    def healthy(self, name: str, sup: Supervisor | None = None) -> bool:
        return probe((sup or self.supervisor).ports[name]) == "ok"

    def metric(self, name: str, metric: str, sup: Supervisor | None = None) -> float:
        """The sum of a metric's samples on the service's /metrics."""
        text = httpx.get(f"{(sup or self.supervisor).url(name)}/metrics", timeout=5).text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith((metric + "{", metric + " ")))

    def logs(self, lines: int = 30) -> str:
        """The tail of every service's log (for assertion messages)."""
        out = []
        for sup in [self.supervisor, *self.extras]:
            for name in sup.ports:
                out.append(f"--- {sup.log_file(name)}\n{sup.log_tail(name, lines)}")
        return "\n".join(out)

    # -- clients ------------------------------------------------------------------------------

    def api(self) -> httpx.Client:
        """A client of the API acting as `admin` (every role: reads, starts, audit)."""
        return httpx.Client(base_url=self.public_url, timeout=30, headers=ADMIN)

    def deploy(self, xml: bytes, name: str = "e2e.bpmn") -> list[dict[str, Any]]:
        """POST the diagram to /api/definitions as a modeler and take every version deployed
        to AUTHORIZED (another principal approves); the versions deployed."""
        with self.api() as client:
            response = client.post("/api/definitions", content=xml, headers={
                **AUTHOR, "Content-Type": "application/xml", "X-File-Name": name})
            assert response.status_code in (200, 201), response.text
            deployed: list[dict[str, Any]] = response.json()["deployed"]
            for each in deployed:
                if each["new"]:
                    authorize(client, each["processId"], each["version"])
        return deployed

    def producer(self) -> Producer:
        return Producer({**producer_config(self.bootstrap), "log_level": 0})

    def db(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A connection whose search path is every service's schema (autocommit): a test
        reads any service's tables by name."""
        conn = psycopg.connect(self.database_url, autocommit=True)
        conn.execute(sql.SQL("SET search_path TO {}").format(
            sql.SQL(", ").join(sql.Identifier(n) for n in self.schemas)))
        return conn


def command_record(intent: Command, instance_id: str, value: Mapping[str, Any],
                   principal: Principal = SYSTEM) -> Record:
    return command(intent, instance_id, value, record_id=f"e2e-{uuid.uuid4()}",
                   timestamp=now_ms(), principal=principal)


def send(producer: Producer, topics: Topics, cmd: Record, flush: bool = True) -> None:
    """Produce a command where a client would (`Topics.route`)."""
    topic, key = topics.route(cmd)
    producer.produce(topic, encode_record(cmd), key.encode())
    if flush:
        assert producer.flush(30) == 0


def start_commands(producer: Producer, topics: Topics, process_id: str, ids: Iterable[str],
                   variables: Callable[[str], dict[str, Any]] | None = None) -> dict[str, int]:
    """START_INSTANCE for each id straight to `commands` (faster than the API); id -> time."""
    started: dict[str, int] = {}
    for iid in ids:
        cmd = command_record(Command.START_INSTANCE, iid, {
            "processId": process_id, "variables": variables(iid) if variables else {}})
        while True:
            try:
                send(producer, topics, cmd, flush=False)
                break
            except BufferError:
                producer.poll(0.05)
        started[iid] = cmd.timestamp
    assert producer.flush(60) == 0
    return started


class TopicReader:
    """Reads every partition of a topic from the beginning, committed records only, as it
    grows; keeps each record with its partition, offset and Kafka timestamp."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = PARTITIONS,
                 decode: Callable[[bytes], Any] = decode_record) -> None:
        self.decode = decode
        self.items: list[Any] = []
        self.meta: list[tuple[int, int, int]] = []
        """(partition, offset, Kafka timestamp ms) of each item."""
        self.seen_at: list[float] = []
        """time.time() when each item was read."""
        self._bootstrap, self._topic, self._partitions = bootstrap, topic, partitions
        self._consumer = Consumer({**consumer_config(bootstrap, unique_name("e2e-reader")),
                                   "log_level": 0})
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING)
                               for p in range(partitions)])

    def poll(self, timeout: float = 0.05) -> list[Any]:
        """Read what arrived; everything read so far."""
        while True:
            batch = self._consumer.consume(5000, timeout=timeout)
            now = time.time()
            for msg in batch:
                if msg.error() is None:
                    self.items.append(self.decode(msg.value() or b""))
                    self.meta.append((int(msg.partition() or 0), int(msg.offset() or 0),
                                      msg.timestamp()[1]))
                    self.seen_at.append(now)
            if len(batch) < 5000:
                return self.items
            timeout = 0

    def wait_for(self, predicate: Callable[[list[Any]], Any], timeout: float = 30.0,
                 message: str = "records") -> Any:
        return wait_until(lambda: predicate(self.poll()), timeout, 0.02, message)

    def read_to_end(self, timeout: float = 30.0) -> list[Any]:
        """Everything the topic holds now: read until each partition's position reaches the
        end offset it had when called (so "no second record" needs no waiting on a clock)."""
        assigned = self._consumer.assignment()
        ends = {(tp.topic, tp.partition): self._consumer.get_watermark_offsets(
            tp, timeout=10, cached=False)[1] for tp in assigned}

        def reached() -> bool:
            self.poll()
            return all(max(tp.offset, 0) >= ends[(tp.topic, tp.partition)]
                       for tp in self._consumer.position(assigned))
        wait_until(reached, timeout, 0.02, "the topic read to its end")
        return self.items

    def reopen(self) -> None:
        """A new consumer that goes on where this one is, for a test whose broker restarted:
        the old one can stay stuck in librdkafka (the class of hang in docs/e2e.md), and it is
        the test's observer, not what the test checks. Closed in the background, since
        closing a stuck client can block too."""
        upto: dict[int, int] = {}
        for partition, offset, _ts in self.meta:
            upto[partition] = max(upto.get(partition, -1), offset)
        old, topic = self._consumer, self._topic
        self._consumer = Consumer({**consumer_config(self._bootstrap, unique_name("e2e-reader")),
                                   "log_level": 0})
        self._consumer.assign([TopicPartition(topic, p, upto[p] + 1 if p in upto
                                              else OFFSET_BEGINNING)
                               for p in range(self._partitions)])
        threading.Thread(target=_close_quietly, args=(old,), daemon=True).start()

    def close(self) -> None:
        self._consumer.close()


def _close_quietly(client: Consumer) -> None:
    with contextlib.suppress(RuntimeError, KafkaException):
        client.close()


def of(records: list[Record], instance_id: str) -> list[Record]:
    return [r for r in records if r.instance_id == instance_id]


def is_done(r: Record) -> bool:
    """The process element's ELEMENT_COMPLETED: the instance is over."""
    return r.intent == "ELEMENT_COMPLETED" and r.element_type == "process"


class Completions:
    """Counts, over a TopicReader of `events`, the instances that completed."""

    def __init__(self, reader: TopicReader) -> None:
        self.reader = reader
        self._upto = 0
        self.done: Counter[str] = Counter()
        self.done_at: dict[str, float] = {}
        """When the completion was read (time.time())."""
        self.produced_at: dict[str, float] = {}
        """The completion's Kafka timestamp: when the engine produced it (before its commit)."""

    def update(self, timeout: float = 0.05) -> int:
        items = self.reader.poll(timeout)
        for i in range(self._upto, len(items)):
            r = items[i]
            if is_done(r):
                self.done[r.instance_id] += 1
                self.done_at.setdefault(r.instance_id, self.reader.seen_at[i])
                self.produced_at.setdefault(r.instance_id, self.reader.meta[i][2] / 1000)
        self._upto = len(items)
        return len(self.done)

    def wait(self, ids: Iterable[str], timeout: float, message: str = "instances completed",
             on_timeout: Callable[[], str] | None = None,
             tick: Callable[[], object] | None = None) -> None:
        """Until every id completed; `tick` runs on every round (an orchestrator's check)."""
        want = set(ids)
        deadline = time.monotonic() + timeout
        while True:
            if tick is not None:
                tick()
            self.update(0.05)  # the consumer's wait is the poll interval: no sleep
            missing = want - set(self.done)
            if not missing:
                return
            if time.monotonic() >= deadline:
                extra = on_timeout() if on_timeout else ""
                raise AssertionError(f"{message}: {len(missing)} of {len(want)} not completed "
                                     f"within {timeout:.0f}s\n{extra}")


class JobWorker:
    """A job worker in a thread: consumes `jobs.<type>` in a group, answers each job with
    COMPLETE_JOB (as agent `worker:e2e`), commits its offsets after the answers are acked.
    At least once, as real workers are: the engine refuses a second completion."""

    def __init__(self, bootstrap: str, topics: Topics, job_type: str,
                 variables: Callable[[Any], dict[str, Any]] | None = None,
                 quota: int | None = None) -> None:
        self.topics = topics
        self.variables = variables
        # answer at most `quota` jobs until `release()`: a test that must act mid-run (a broker
        # restart) holds the rest back however fast the engine is
        self._quota = quota
        self._released = threading.Event()
        self.answered: Counter[tuple[str, int]] = Counter()
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._bootstrap = bootstrap
        self._job_type = job_type
        self._reconnect = threading.Event()
        self.reconnects = 0
        self._consumer = self._new_consumer()
        self._producer = Producer({**producer_config(bootstrap), "log_level": 0})
        self._thread = threading.Thread(target=self._run, daemon=True, name="job-worker")
        self._thread.start()

    def _new_consumer(self) -> Consumer:
        consumer = Consumer({**consumer_config(self._bootstrap, unique_name("e2e-worker")),
                             "log_level": 0})
        consumer.subscribe([self.topics.jobs(self._job_type)])
        return consumer

    def reconnect(self) -> None:
        """Replace the worker's consumer (in its thread) by one of a new group, which reads
        the jobs from the start: for a test whose broker restarted, where a group consumer can
        stay stuck in librdkafka. Jobs answered before are answered again, which the engine
        refuses, as any at-least-once worker's repeats."""
        self._reconnect.set()

    def _run(self) -> None:
        try:
            held: list[Message] = []
            while not self._stop.is_set():
                if self._reconnect.is_set():
                    self._reconnect.clear()
                    old, self._consumer = self._consumer, self._new_consumer()
                    threading.Thread(target=_close_quietly, args=(old,), daemon=True).start()
                    self.reconnects += 1
                    held = []
                if not held:
                    msgs = self._consumer.consume(500, timeout=0.05)
                    held = [m for m in msgs if m.error() is None]
                    if not held:
                        continue
                room = self._room()
                if room == 0:
                    self._released.wait(0.05)
                    continue
                good, held = (held, []) if room is None else (held[:room], held[room:])
                answers: list[Record] = []
                for msg in good:
                    job = decode_job(msg.value() or b"")
                    answers.append(command_record(Command.COMPLETE_JOB, job.instance_id, {
                        "jobKey": job.key,
                        "variables": self.variables(job) if self.variables else {}}, WORKER))
                    self.answered[(job.instance_id, job.key)] += 1
                self._deliver(answers)
                self._commit(good)
        except BaseException as exc:
            self.error = exc
            raise

    def _room(self) -> int | None:
        """How many more jobs may be answered now; None: no limit."""
        if self._quota is None or self._released.is_set():
            return None
        return max(self._quota - sum(self.answered.values()), 0)

    def release(self) -> None:
        """Answer every job from now on (lifts the quota)."""
        self._released.set()

    def _deliver(self, answers: list[Record]) -> None:
        """Produce the answers until Kafka acknowledged each, across a broker restart: a
        record the producer gave up on is sent again, and a producer that went fatal (an
        idempotent producer can, when the broker lost its state) is replaced, as a real
        worker must."""
        pending = answers
        while pending and not self._stop.is_set():
            failed: list[Record] = []
            for cmd in pending:
                def report(err: KafkaError | None, _msg: Message, cmd: Record = cmd,
                           failed: list[Record] = failed) -> None:
                    if err is not None:
                        failed.append(cmd)
                while True:
                    try:
                        topic, key = self.topics.route(cmd)
                        self._producer.produce(topic, encode_record(cmd), key.encode(),
                                               on_delivery=report)
                        break
                    except BufferError:
                        self._producer.poll(0.05)
                    except KafkaException:
                        failed.append(cmd)  # fatal: the producer is replaced below
                        break
            while self._producer.flush(1) and not self._stop.is_set():
                pass  # the broker may be away (a restart): keep waiting
            if failed:
                self._producer = Producer({**producer_config(self._bootstrap), "log_level": 0})
            pending = failed

    def _commit(self, msgs: list[Message]) -> None:
        last: dict[tuple[str, int], int] = {}
        for m in msgs:
            last[(str(m.topic()), int(m.partition() or 0))] = int(m.offset() or 0)
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in last.items()]
        with contextlib.suppress(KafkaException):  # a rebalance or restart: redelivered
            self._consumer.commit(offsets=offsets, asynchronous=False)

    def check(self) -> None:
        """Fail now if the worker's thread died (rather than when a wait for its answers times
        out)."""
        if self.error is not None:
            raise AssertionError(f"the job worker failed: {self.error!r}") from self.error

    def close(self) -> None:
        self._stop.set()
        self._thread.join(30)
        with contextlib.suppress(RuntimeError, KafkaException):
            self._consumer.close()
        assert self.error is None, f"the job worker failed: {self.error!r}"


@contextlib.contextmanager
def job_worker(bootstrap: str, topics: Topics, job_type: str,
               variables: Callable[[Any], dict[str, Any]] | None = None,
               quota: int | None = None) -> Iterator[JobWorker]:
    worker = JobWorker(bootstrap, topics, job_type, variables, quota)
    try:
        yield worker
    finally:
        worker.close()
