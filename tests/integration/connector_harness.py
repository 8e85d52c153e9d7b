"""Helpers for the connector runtime's integration tests: per-test topics, job records, a reader
of `commands`, and workers in process (a thread with its own loop) or as subprocesses."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from laneway.codec import JobRecord, decode_record, encode_job
from laneway.connectors import Connector
from laneway.kafka import consumer_config, producer_config
from laneway.records import Principal, PrincipalKind, Record
from laneway.topics import Topics
from scripts.stack.testing import unique_name, wait_until
from services.connectors.settings import ConnectorsSettings, load_settings
from services.connectors.worker import ConnectorService
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Env:
    """One test's world: its topic prefix and the connections of the stack."""

    bootstrap: str
    redis_url: str
    prefix: str = field(default_factory=lambda: unique_name("t-conn") + ".")

    @property
    def topics(self) -> Topics:
        """The test's topic names."""
        return Topics(self.prefix)

    def environ(self, **extra: str) -> dict[str, str]:
        """The environment a worker of this test runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("LANEWAY_")}
        env.update(KAFKA_BOOTSTRAP_SERVERS=self.bootstrap, REDIS_URL=self.redis_url,
                   LANEWAY_TOPIC_PREFIX=self.prefix, LANEWAY_CONNECTOR_POLL_S="0.05",
                   LANEWAY_CONNECTOR_SHUTDOWN_GRACE_S="3", LANEWAY_STARTUP_TIMEOUT_S="30")
        env.update(extra)
        return env

    def create_topics(self, job_types: Mapping[str, int]) -> None:
        """`commands`, `dlq` and `jobs.<type>` with the given partition counts."""
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        names = {self.topics.commands: 2, self.topics.dlq: 1,
                 **{self.topics.jobs(t): n for t, n in job_types.items()}}
        futures = admin.create_topics([NewTopic(name, num_partitions=n, replication_factor=1)
                                       for name, n in names.items()], operation_timeout=30)
        for future in futures.values():
            future.result(timeout=30)
        wait_until(lambda: set(names) <= set(admin.list_topics(timeout=5).topics), 30,
                   message="topics visible")

    def produce(self, topic: str, records: list[tuple[str, bytes]]) -> None:
        """Produce (key, value) pairs and wait until Kafka has them."""
        producer = Producer(producer_config(self.bootstrap))
        for key, value in records:
            producer.produce(topic, key=key.encode(), value=value)
        assert producer.flush(30) == 0


def job_record(url: str, *, instance: str | None = None, key: int = 1, retries: int = 3,
               job_type: str = "http", record_id: str | None = None,
               **attrs: str) -> JobRecord:
    """A JobRecord for the http connector calling `url`; extra `laneway:` attributes by
    keyword (`errorOn4xx="BAD"` -> `laneway:errorOn4xx`)."""
    instance = instance or str(uuid.uuid4())
    attributes = {"laneway:url": url, **{f"laneway:{k}": v for k, v in attrs.items()}}
    return JobRecord(record_id=record_id or str(uuid.uuid4()), instance_id=instance,
                     element_id="call", element_type="serviceTask", token_id=3, scope_id=1,
                     principal=Principal(PrincipalKind.SYSTEM, "engine"), timestamp=1,
                     key=key, type=job_type, retries=retries, attributes=attributes,
                     variables={"orderId": "o-9"})


def encoded(job: JobRecord) -> tuple[str, bytes]:
    """(key, value) of a job on `jobs.<type>`."""
    return job.instance_id, encode_job(job)


class Reader:
    """Reads a topic from the start, accumulating what arrives."""

    def __init__(self, env: Env, topic: str) -> None:
        self.consumer = Consumer(consumer_config(env.bootstrap, unique_name("t-reader")))
        self.consumer.subscribe([topic])
        self.raw: list[tuple[bytes | None, list[tuple[str, bytes]]]] = []

    def poll(self) -> None:
        """Take what is there now."""
        for msg in self.consumer.consume(500, 0.2):
            if msg.error() is None:
                self.raw.append((msg.value(), list(msg.headers() or [])))

    def commands(self) -> list[Record]:
        """Everything read so far, decoded as commands."""
        self.poll()
        return [decode_record(value) for value, _ in self.raw if value is not None]

    def wait_for(self, predicate: Any, timeout: float = 30, message: str = "commands"
                 ) -> list[Record]:
        """Poll until `predicate(commands)` holds; the commands."""
        return wait_until(lambda: (lambda cs: cs if predicate(cs) else None)(self.commands()),
                          timeout, 0.05, message)

    def close(self) -> None:
        """Leave the group."""
        self.consumer.close()


class InProcessWorker:
    """The connectors service in a thread of this process, with connectors of the test's
    choice (a test connector needs no entry point here)."""

    def __init__(self, env: Env, connectors: Mapping[str, Connector], **extra: str) -> None:
        self.settings: ConnectorsSettings = load_settings(
            env.environ(**extra), types=",".join(connectors))
        self.service = ConnectorService(self.settings, connectors)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self.service.run(self._stop))

    def __enter__(self) -> InProcessWorker:
        self._thread.start()
        wait_until(lambda: self.service.check_consumers() is None, 60, 0.05,
                   "in-process worker joined its groups")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)


class WorkerProcess:
    """`python -m services.connectors --types ...` as a subprocess, with its health port."""

    def __init__(self, env: Env, types: str, log: Path, **extra: str) -> None:
        self.port = free_port()
        self.log = log
        self._out = log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.connectors", "--types", types], cwd=ROOT,
            env=env.environ(LANEWAY_HTTP_PORT=str(self.port), **extra),
            stdout=self._out, stderr=subprocess.STDOUT)

    def get(self, path: str) -> tuple[int, str]:
        """GET a path of its health server."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def wait_healthy(self, timeout: float = 60) -> None:
        """Until /health answers 200 (every consumer joined its group)."""
        wait_until(lambda: self.proc.poll() is not None or self.get("/health")[0] == 200,
                   timeout, 0.1, "worker healthy")
        assert self.proc.poll() is None, self.log.read_text()

    def metric(self, name: str) -> float:
        """The sum of a metric's samples on /metrics."""
        _, text = self.get("/metrics")
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") or line.startswith(name + " "))

    def stop(self, sig: int | None = None) -> int:
        """SIGTERM (or `sig`) and wait; the exit status."""
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
        try:
            code = self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self._out.close()
        return code
