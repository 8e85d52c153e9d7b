"""The job gateway's core: jobs of `jobs.<type>` held in memory, leased to outside workers.

Per type, a `JobConsumer` (the connectors service's, with its consumer group
`<prefix>jobs-gateway.<type>`) fetches job records into this process, at most
`ConnectorsSettings.gateway_buffer` at once. A job is offered until an activation leases it for
`timeoutMs`; a lease that runs out offers it again. A worker's answer becomes the engine's
command (COMPLETE_JOB, FAIL_JOB, THROW_ERROR) with the worker's principal, produced to
`commands`; once Kafka has it, the job's offset is done, and a partition's offset is committed
only below every finished job (`PartitionOffsets`). Only the lessee answers: the activating
principal (kind and id) is kept with the lease, and another principal's answer is
`NotLessee`, also the first worker's late answer after its lease ran out and the job went to
another. A gateway that dies leaves the uncommitted
jobs to the next member of the group: at-least-once to workers; the engine refuses a second
answer to a job, so its effect is once.

A failure with retries left produces FAIL_JOB {retries} (the engine records it) and offers the
job again after `retryBackOffMs`, with those retries; this count lives in memory (a gateway
restart offers the job again with the retries of its JOB_CREATED record).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from confluent_kafka import Consumer, Message, Producer

from laneway.codec import (
    DecodeError,
    JobRecord,
    dead_letter_headers,
    decode_job,
    encode_record,
)
from laneway.kafka import consumer_config, producer_config
from laneway.records import Command, Principal, command
from laneway.topics import Topics
from services.connectors.execute import is_notification
from services.connectors.kafka_io import AsyncProducer, JobConsumer
from services.connectors.metrics import ConnectorMetrics
from services.connectors.offsets import PartitionOffsets
from services.connectors.settings import ConnectorsSettings

_log = logging.getLogger("services.connectors.gateway")
_NAMESPACE = uuid.UUID("0c2d7c55-51f4-4d8e-9a3b-3f1d2b8e6a40")
_FINISHED_KEPT = 10_000  # answered job keys remembered, to say 409 rather than 404
ANSWER_WAIT_S = 20.0
"""How long an answer's request waits for Kafka to take its command (503 after it)."""


class UnknownJob(LookupError):
    """No lease on the job: never handed out, its lease ran out, or another gateway has it."""


class JobAnswered(LookupError):
    """The job was answered already (through this gateway)."""


class NotLessee(LookupError):
    """The job is leased to another principal than the one answering."""


@dataclass(slots=True, eq=False)
class Held:
    """One job record in memory."""

    record: JobRecord
    message: Message
    offsets: PartitionOffsets
    retries: int
    attempt: int = 0
    available_at: float = 0.0
    """Monotonic time from which it may be leased (a failure's backoff)."""
    lease_until: float | None = None
    """Monotonic end of the current lease; None while offered."""
    deadline_ms: int = 0
    worker: str = ""
    lessee: tuple[str, str] | None = None
    """(kind, id) of the principal that activated the current lease: the only one it answers."""
    busy: bool = field(default=False)
    """An answer is being produced: neither offered nor expired meanwhile."""

    @property
    def key(self) -> str:
        """`<instanceId>:<jobKey>`: the job's id in the API (as tasks and incidents)."""
        return f"{self.record.instance_id}:{self.record.key}"

    def view(self) -> dict[str, Any]:
        """The job as an activation answers it."""
        r = self.record
        return {"key": self.key, "type": r.type, "processInstanceId": r.instance_id,
                "elementId": r.element_id, "elementName": r.element_name,
                "retries": self.retries, "deadline": self.deadline_ms,
                "variables": dict(r.variables), "customHeaders": dict(r.headers),
                "attributes": dict(r.attributes),
                # a script task's job (Groovy, Python, ...: docs/workers.md): its text and
                # language, for the worker that runs it
                **{k: r.extra[k] for k in ("script", "scriptFormat") if k in r.extra}}


def _who(principal: Principal) -> tuple[str, str]:
    """What a lease keeps of its principal: the kind and id (the roles and claims of one
    worker's tokens may differ from one token to the next)."""
    return (principal.kind.value, principal.id)


class TypeQueue:
    """The jobs of one type this gateway holds."""

    def __init__(self, job_type: str, consumer_of: Callable[[TypeQueue], JobConsumer],
                 dead_letter: Callable[[Message, BaseException], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.type = job_type
        self._clock = clock
        self._offered: collections.deque[Held] = collections.deque()
        self.leased: dict[str, Held] = {}
        self._arrived = asyncio.Event()
        self._dead_letter = dead_letter
        self.consumer = consumer_of(self)

    # --- the consumer's side (loop thread) ---------------------------------------------------

    def dispatch(self, batch: list[tuple[Message, PartitionOffsets]]) -> None:
        """Records fetched by the consumer: offer the jobs, dead-letter what is no job."""
        for msg, offsets in batch:
            value = msg.value()
            try:
                if value is None:
                    raise DecodeError("truncated", "an empty record is not a job")
                record = decode_job(value)
            except DecodeError as exc:
                self._dead_letter(msg, exc)
                self.done(msg, offsets)
                continue
            self._offered.append(Held(record, msg, offsets, record.retries))
        self._arrived.set()

    def done(self, msg: Message, offsets: PartitionOffsets) -> None:
        """The record is answered: its offset may be committed."""
        offset = msg.offset()
        if offset is not None:
            self.consumer.done(offsets, offset)

    # --- the API's side ----------------------------------------------------------------------

    def take(self, count: int, lease_s: float, worker: str, lessee: Principal) -> list[Held]:
        """Lease up to `count` offered jobs whose backoff is over to `lessee` (`worker` is the
        name the logs show)."""
        now = self._clock()
        taken: list[Held] = []
        later: list[Held] = []
        while self._offered and len(taken) < count:
            held = self._offered.popleft()
            if held.offsets.revoked:
                continue  # its partition went to another member, which offers it there
            if held.available_at > now:
                later.append(held)
                continue
            held.lease_until = now + lease_s
            held.deadline_ms = int((time.time() + lease_s) * 1000)
            held.worker = worker
            held.lessee = _who(lessee)
            self.leased[held.key] = held
            taken.append(held)
        self._offered.extendleft(reversed(later))
        return taken

    async def activate(self, count: int, lease_s: float, worker: str, lessee: Principal,
                       wait_s: float) -> list[Held]:
        """Lease up to `count` jobs, waiting up to `wait_s` for the first one."""
        deadline = self._clock() + wait_s
        while True:
            self._arrived.clear()
            taken = self.take(count, lease_s, worker, lessee)
            left = deadline - self._clock()
            if taken or left <= 0:
                return taken
            # a job in its backoff wakes no one: look again at least every 0.5 s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(left, 0.5))

    def offer_again(self, held: Held, delay_s: float = 0.0) -> None:
        """Back to the offered jobs (a lease ran out, or a failure's backoff)."""
        self.leased.pop(held.key, None)
        held.lease_until = None
        held.worker = ""
        held.lessee = None
        held.available_at = self._clock() + delay_s
        self._offered.append(held)
        self._arrived.set()

    def sweep(self) -> int:
        """Offer again every job whose lease ran out; how many."""
        now = self._clock()
        expired = [h for h in self.leased.values()
                   if not h.busy and h.lease_until is not None and h.lease_until <= now]
        for held in expired:
            _log.info("%s: the lease of job %s (worker %r) ran out; offered again", self.type,
                      held.key, held.worker)
            self.offer_again(held)
        if any(h.available_at > now for h in self._offered):
            self._arrived.set()  # a backoff may be over: let long polls look
        return len(expired)

    @property
    def offered(self) -> int:
        """Jobs waiting for a worker."""
        return len(self._offered)


class Gateway:
    """Every type's queue, the producer of commands, and the answers to jobs."""

    def __init__(self, settings: ConnectorsSettings, loop: asyncio.AbstractEventLoop,
                 producer: AsyncProducer | None = None) -> None:
        common = settings.common
        self.settings = settings
        self._topics = Topics(common.topic_prefix)
        self._loop = loop
        if producer is None:
            config = producer_config(common.kafka_bootstrap_servers, client_id="laneway-jobs")
            producer = AsyncProducer(Producer(config), loop, renew=lambda: Producer(config),
                                     stall_s=common.stall_s)
        self.producer = producer
        self._finished: collections.OrderedDict[str, str] = collections.OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self.queues = {t: TypeQueue(t, self._consumer_for, self._dead_letter)
                       for t in settings.external_job_types}
        self._sweeper: asyncio.Task[None] | None = None

    def _consumer_for(self, queue: TypeQueue) -> JobConsumer:
        s = self.settings
        config = consumer_config(s.common.kafka_bootstrap_servers, s.gateway_group(queue.type),
                                 client_id=f"laneway-jobs-{queue.type}")
        # a lease may last long while the partition's other jobs wait on it for their commit
        config["max.poll.interval.ms"] = 600_000
        config["session.timeout.ms"] = s.session_timeout_ms
        config.update(ConnectorMetrics.default().service.lag_config(s.gateway_group(queue.type)))
        return JobConsumer(Consumer(config), self._topics.jobs(queue.type), self._loop,
                           queue.dispatch, max_outstanding=s.gateway_buffer,
                           poll_timeout_s=s.poll_timeout_s,
                           commit_interval_s=s.commit_interval_s, stall_s=s.common.stall_s)

    def start(self) -> None:
        """Join the groups and start fetching; expire leases in the background."""
        for queue in self.queues.values():
            queue.consumer.start()
        self._sweeper = asyncio.create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            for queue in self.queues.values():
                queue.sweep()

    async def stop(self) -> None:
        """Stop fetching, commit what is done and leave the groups; close the producer."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        for queue in self.queues.values():
            queue.consumer.drain()
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        for queue in self.queues.values():
            await asyncio.to_thread(queue.consumer.stop)
        await asyncio.to_thread(self.producer.close)

    def _dead_letter(self, msg: Message, error: BaseException) -> None:
        headers = dead_letter_headers(error, msg.topic() or "", msg.partition() or 0,
                                      msg.offset() or 0)
        key = msg.key()
        _log.error("job record at %s[%s]@%s goes to the dead-letter topic: %s", msg.topic(),
                   msg.partition(), msg.offset(), error)
        task = asyncio.ensure_future(self.producer.send(
            self._topics.dlq, key.decode("utf-8", "replace") if isinstance(key, bytes)
            else str(key or ""), msg.value() or b"", headers))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- answers -----------------------------------------------------------------------------

    def _leased(self, key: str, principal: Principal) -> tuple[TypeQueue, Held]:
        for queue in self.queues.values():
            held = queue.leased.get(key)
            if held is not None:
                if held.lessee != _who(principal):
                    # another worker's lease, or this one's late answer after its lease ran
                    # out and the job went to another: the other's answer is the one that counts
                    raise NotLessee(key)
                if held.busy:
                    raise JobAnswered("an answer to it is being sent")
                return queue, held
        if key in self._finished:
            raise JobAnswered(self._finished[key])
        raise UnknownJob(key)

    async def answer(self, key: str, intent: Command, value: dict[str, Any],
                     principal: Principal, *, retry_after_s: float = 0.0,
                     wait_s: float = ANSWER_WAIT_S) -> None:
        """Produce the worker's answer to a leased job; the job is then done (or, a failure
        with retries left, offered again after `retry_after_s`). TimeoutError when Kafka has
        not taken it within `wait_s`: it is still being sent, and the job is done once it is
        (meanwhile another answer is `JobAnswered`). `NotLessee` when the job is leased to
        another principal, `UnknownJob` when it is leased to no one here."""
        queue, held = self._leased(key, principal)
        record = held.record
        value = {"jobKey": record.key, **value}
        data = None
        if not is_notification(record):  # the engine waits for no answer to one
            cmd = command(intent, record.instance_id, value,
                          record_id=str(uuid.uuid5(
                              _NAMESPACE, f"{record.record_id}/{intent}/{held.attempt + 1}")),
                          timestamp=int(time.time() * 1000), principal=principal)
            cmd = replace(cmd, element_id=record.element_id,
                          element_type=record.element_type, token_id=record.token_id,
                          scope_id=record.scope_id)
            data = encode_record(cmd)  # EncodeError: nothing changed
        held.busy = True
        held.attempt += 1
        task = asyncio.ensure_future(self._deliver(queue, held, intent, value, data,
                                                   retry_after_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        await asyncio.wait_for(asyncio.shield(task), wait_s)

    async def _deliver(self, queue: TypeQueue, held: Held, intent: Command,
                       value: dict[str, Any], data: bytes | None, retry_after_s: float) -> None:
        try:
            if data is not None:
                await self.producer.send(self._topics.commands, held.record.instance_id, data)
        finally:
            held.busy = False
        retries = value.get("retries")
        if intent is Command.FAIL_JOB and isinstance(retries, int) and retries > 0:
            held.retries = retries
            queue.offer_again(held, retry_after_s)
            return
        queue.leased.pop(held.key, None)
        self._finished[held.key] = intent.value
        while len(self._finished) > _FINISHED_KEPT:
            self._finished.popitem(last=False)
        queue.done(held.message, held.offsets)

    # --- health ------------------------------------------------------------------------------

    def check_consumers(self) -> str | None:
        """None while every type's consumer polls and has joined its group."""
        for queue in self.queues.values():
            c = queue.consumer
            if c.error:
                return f"{queue.type}: polling failed: {c.error}"
            if not c.alive:
                return f"{queue.type}: the poll thread stopped"
            if not c.assigned.is_set():
                return f"{queue.type}: not yet in its consumer group"
            stalled = c.progress.check()
            if stalled:
                return stalled
        return None

    def check_consumers_live(self) -> str | None:
        """None while every type's poll thread goes round (Kafka away is not its failure)."""
        for queue in self.queues.values():
            c = queue.consumer
            if not c.alive:
                return f"{queue.type}: the poll thread stopped"
            stalled = c.progress.check_live()
            if stalled:
                return f"{queue.type}: {stalled}"
        return None

    def check_producer(self) -> str | None:
        """None while the producer delivers."""
        return self.producer.progress.check()
