"""The connectors service's loop: one `TypeWorker` per connector type in one asyncio loop.

Each type has its own consumer group (`<prefix>connectors.<type>`) on its own topic, its own
poll thread and its own bound on running jobs, so a type scales by adding processes (and
partitions) and a slow or idle type never holds another back. Jobs run as asyncio tasks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping

import httpx
from confluent_kafka import Consumer, Message, Producer
from opentelemetry.trace import SpanKind, Status, StatusCode
from redis.asyncio import BlockingConnectionPool, Redis

from laneway.codec import DecodeError, JobRecord, dead_letter_headers, decode_job
from laneway.connectors import Connector, Secrets
from laneway.kafka import consumer_config, producer_config
from laneway.records import Command
from laneway.telemetry import instance_span, trace_headers, tracing
from laneway.topics import Topics
from services.connectors.execute import NOTIFICATION_FAILED, Runtime, execute
from services.connectors.idempotency import IdempotencyStore
from services.connectors.kafka_io import AsyncProducer, JobConsumer
from services.connectors.metrics import ConnectorMetrics
from services.connectors.offsets import PartitionOffsets
from services.connectors.settings import ConnectorsSettings

_log = logging.getLogger("services.connectors")


class TypeWorker:
    """Everything of one connector type in this process."""

    def __init__(self, connector: Connector, settings: ConnectorsSettings,
                 producer: AsyncProducer, store: IdempotencyStore, secrets: Secrets,
                 http: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.type = connector.type
        self._topics = Topics(settings.common.topic_prefix)
        self._producer = producer
        self._tasks: set[asyncio.Task[None]] = set()
        self.metrics = ConnectorMetrics.default()
        self.runtime = Runtime(connector=connector, secrets=secrets, http=http, store=store,
                               emit=self._emit, slots=asyncio.Semaphore(settings.concurrency),
                               settings=settings.connector_settings(self.type),
                               max_variables_bytes=settings.common.max_variables_bytes,
                               metrics=self.metrics)
        config = consumer_config(settings.common.kafka_bootstrap_servers,
                                 settings.group(self.type),
                                 client_id=f"laneway-connectors-{self.type}")
        # one record's job may take minutes (timeout x retries + backoff) while the others wait
        # on it for their commit; pausing keeps the member polling, so this is only a backstop
        config["max.poll.interval.ms"] = 600_000
        config["session.timeout.ms"] = settings.session_timeout_ms
        config.update(self.metrics.service.lag_config(settings.group(self.type)))
        self.consumer = JobConsumer(Consumer(config), self._topics.jobs(self.type), loop,
                                    self._dispatch, max_outstanding=2 * settings.concurrency,
                                    poll_timeout_s=settings.poll_timeout_s,
                                    commit_interval_s=settings.commit_interval_s,
                                    stall_s=settings.common.stall_s)

    def start(self) -> None:
        """Join the group and start taking jobs."""
        self.consumer.start()

    async def _emit(self, key: str, data: bytes) -> None:
        # the job span's context: the engine's span for the answer is its child
        await self._producer.send(self._topics.commands, key, data, trace_headers())

    def _dispatch(self, batch: list[tuple[Message, PartitionOffsets]]) -> None:
        for msg, offsets in batch:
            task = asyncio.create_task(self._handle(msg, offsets))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _handle(self, msg: Message, offsets: PartitionOffsets) -> None:
        started = time.monotonic()
        self.metrics.started.labels(self.type).inc()
        self.metrics.in_flight.labels(self.type).inc()
        try:
            value = msg.value()
            try:
                if value is None:
                    raise DecodeError("truncated", "an empty record is not a job")
                record = decode_job(value)
            except DecodeError as exc:
                await self._dead_letter(msg, exc)
            else:
                intent = await self._execute(record, msg)
                self.metrics.completed.labels(self.type, intent).inc()
                self.metrics.latency.labels(self.type).observe(time.monotonic() - started)
        except asyncio.CancelledError:
            raise  # stopping: left uncommitted, redelivered to whoever takes the partition
        except Exception as exc:  # a bug here must not stall the partition's commits forever
            _log.exception("job record at %s[%s]@%s could not be handled", msg.topic(),
                           msg.partition(), msg.offset())
            await self._dead_letter(msg, exc)
        finally:
            self.metrics.in_flight.labels(self.type).dec()
        offset = msg.offset()
        if offset is not None:
            self.consumer.done(offsets, offset)

    async def _execute(self, record: JobRecord, msg: Message) -> str:
        """Run the job in a span of its own, a child of the job record's context (the
        engine's command span that created it); outbound HTTP and SMTP are its children."""
        traced = tracing()
        with instance_span(f"laneway.connector.{self.type}" if traced else "",
                           record.instance_id, element_id=record.element_id,
                           headers=msg.headers() if traced else None, kind=SpanKind.CONSUMER,
                           attributes={"laneway.job_type": self.type,
                                       "laneway.job_key": record.key}) as span:
            intent = await execute(record, self.runtime)
            if traced and span.is_recording():
                span.set_attribute("laneway.job_outcome", intent)
                if intent in (Command.FAIL_JOB.value, NOTIFICATION_FAILED):
                    span.set_status(Status(StatusCode.ERROR, intent))
            return intent

    async def _dead_letter(self, msg: Message, error: BaseException) -> None:
        headers = dead_letter_headers(error, msg.topic() or "", msg.partition() or 0,
                                      msg.offset() or 0)
        key = msg.key()
        _log.error("job record at %s[%s]@%s goes to the dead-letter topic: %s", msg.topic(),
                   msg.partition(), msg.offset(), error)
        await self._producer.send(self._topics.dlq,
                                  key.decode("utf-8", "replace") if isinstance(key, bytes)
                                  else str(key or ""), msg.value() or b"", headers)
        self.metrics.dead_letters.labels(self.type).inc()

    async def stop(self, grace_s: float) -> None:
        """Take no more jobs, let running ones finish for `grace_s`, cancel the rest (they are
        redelivered), commit and leave the group."""
        self.consumer.drain()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            if pending:
                _log.warning("%s: %d job(s) still running after %.0fs; they will be redelivered",
                             self.type, len(pending), grace_s)
                await asyncio.wait(pending, timeout=5)
        await asyncio.to_thread(self.consumer.stop)
        await self.runtime.connector.close()

    def live(self) -> str | None:
        """None while the consumer's poll thread goes round."""
        if not self.consumer.alive:
            return f"{self.type}: the poll thread stopped"
        stalled = self.consumer.progress.check_live()
        return f"{self.type}: {stalled}" if stalled is not None else None

    def health(self) -> str | None:
        """None while the consumer polls and has joined its group."""
        if self.consumer.error:
            return f"{self.type}: polling failed: {self.consumer.error}"
        if not self.consumer.alive:
            return f"{self.type}: the poll thread stopped"
        stalled = self.consumer.progress.check()
        if stalled is not None:
            return f"{self.type}: {stalled}"
        if not self.consumer.assigned.is_set():
            return f"{self.type}: not yet assigned partitions of {self.consumer.topic}"
        return None


class ConnectorService:
    """All types of this process, sharing one producer, one Redis and one HTTP client."""

    def __init__(self, settings: ConnectorsSettings, connectors: Mapping[str, Connector]) -> None:
        self.settings = settings
        self.connectors = dict(connectors)
        self.workers: list[TypeWorker] = []
        self.beat = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._redis: Redis | None = None
        self.producer: AsyncProducer | None = None
        self.started = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until `stop` is set, then shut down gracefully."""
        loop = self._loop = asyncio.get_running_loop()
        common = self.settings.common
        def new_producer() -> Producer:
            return Producer(producer_config(common.kafka_bootstrap_servers,
                                            client_id="laneway-connectors"))
        producer = self.producer = AsyncProducer(new_producer(), loop, renew=new_producer,
                                                 stall_s=common.stall_s)
        # blocking: a burst of jobs waits for a connection instead of failing (Redis answers
        # in well under a millisecond, so a few dozen connections serve thousands of jobs/s)
        pool = BlockingConnectionPool.from_url(common.redis_url, max_connections=64, timeout=30)
        redis = self._redis = Redis(connection_pool=pool)
        store = IdempotencyStore(redis, done_ttl_s=self.settings.idempotency_ttl_s)
        secrets = Secrets(self.settings.environ, self.settings.secrets_dir)
        limits = httpx.Limits(max_connections=self.settings.concurrency * len(self.connectors))
        try:
            async with httpx.AsyncClient(follow_redirects=False, limits=limits) as http:
                self.workers = [TypeWorker(c, self.settings, producer, store, secrets, http, loop)
                                for c in self.connectors.values()]
                for worker in self.workers:
                    worker.start()
                    _log.info("serving jobs of type '%s' from %s as group %s", worker.type,
                              worker.consumer.topic, self.settings.group(worker.type))
                self.started.set()
                while not stop.is_set():
                    self.beat = time.monotonic()
                    with contextlib.suppress(TimeoutError):  # a beat a second
                        await asyncio.wait_for(stop.wait(), 1.0)
                await asyncio.gather(*(w.stop(self.settings.shutdown_grace_s)
                                       for w in self.workers))
        finally:
            await asyncio.to_thread(producer.close)
            await redis.aclose()

    def check_consumers(self) -> str | None:
        """Health: every type's consumer polls and has joined its group."""
        if not self.workers:
            return "starting"
        problems = [p for p in (w.health() for w in self.workers) if p]
        return "; ".join(problems) or None

    def check_consumers_live(self) -> str | None:
        """Liveness: every type's poll thread goes round (Kafka away is not its failure)."""
        problems = [p for p in (w.live() for w in self.workers) if p]
        return "; ".join(problems) or None

    def check_producer(self) -> str | None:
        """Health: the commands and dead letters of finished jobs get to Kafka (a send
        retried past the stall limit holds its job's offset)."""
        return self.producer.progress.check() if self.producer is not None else None

    def check_loop(self) -> str | None:
        """Health: the event loop still turns (a job blocking it would stop every type)."""
        age = time.monotonic() - self.beat
        return f"the event loop has not run for {age:.0f}s" if age > 10 else None

    def check_redis(self) -> str | None:
        """Health: Redis answers (without it no job can be claimed)."""
        if self._loop is None or self._redis is None:
            return "starting"
        try:
            redis = self._redis

            async def ping() -> None:
                await redis.ping()

            asyncio.run_coroutine_threadsafe(ping(), self._loop).result(2)
        except Exception as exc:  # any failure to answer is the news
            return f"Redis: {type(exc).__name__}: {exc}"
        return None
