"""Kafka for the event loop: confluent-kafka blocks, so each client is driven by a thread.

`AsyncProducer.send` returns once the broker acknowledged the record (the delivery report), so
a job's offset is committed only after its command is safely written. `JobConsumer` polls one
`jobs.<type>` topic in a thread, hands records to the loop, pauses while too many are
outstanding, and commits per partition the highest offset below which every job is done.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from laneway.kafka import RenewingProducer
from laneway.service.progress import DEFAULT_STALL_S, Progress
from services.connectors.offsets import PartitionOffsets

_log = logging.getLogger("services.connectors.kafka")
_RETRY_S = (0.1, 0.5, 1.0, 2.0, 5.0)


class AsyncProducer:
    """A confluent-kafka producer whose deliveries the event loop can await."""

    def __init__(self, producer: Producer, loop: asyncio.AbstractEventLoop,
                 renew: Callable[[], Producer] | None = None,
                 stall_s: float = DEFAULT_STALL_S) -> None:
        # `renew` makes a fresh producer when this one turns fatal; without it, the retries
        # go on and the health check tells
        self._producer = RenewingProducer(renew, producer)
        # a send retried for long holds its job's offset: /health says so (`progress.check`)
        self.progress = Progress("connectors' producer", stall_s)
        self._loop = loop
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="connectors-producer",
                                        daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)  # runs the delivery callbacks
            self.progress.polled()

    async def _send_with(self, producer: Producer, topic: str, key: str, value: bytes,
                         headers: Sequence[tuple[str, str | bytes | None]] | None) -> None:
        future: asyncio.Future[None] = self._loop.create_future()

        def delivered(err: KafkaError | None, _msg: Message) -> None:
            def settle() -> None:
                if future.done():
                    return
                if err is None:
                    future.set_result(None)
                else:
                    future.set_exception(KafkaException(err))
            self._loop.call_soon_threadsafe(settle)

        while True:
            try:
                producer.produce(topic, value=value, key=key.encode(),
                                 headers=list(headers or []), on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let deliveries drain it
                await asyncio.sleep(0.01)
        await future

    async def send(self, topic: str, key: str, value: bytes,
                   headers: Sequence[tuple[str, str | bytes | None]] | None = None) -> None:
        """Produce until the broker has it. The job's offset stays uncommitted meanwhile, so
        giving up would only leave it for a restart; Kafka down is the health check's news."""
        for attempt in range(10**9):
            producer = self._producer.current
            try:
                await self._send_with(producer, topic, key, value, headers)
                self.progress.advanced()
                return
            except KafkaException as exc:
                self.progress.failed(f"a send to {topic}")
                if self._producer.renew_if_fatal(producer, exc):
                    continue  # through the new producer, at once
                delay = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
                _log.warning("producing to %s failed (%s); again in %.1fs", topic, exc, delay)
                await asyncio.sleep(delay)

    def close(self, timeout_s: float = 10.0) -> None:
        """Deliver what is queued (at most `timeout_s`), then stop the thread."""
        self._producer.flush(timeout_s)
        self._stop.set()
        self._thread.join(timeout_s)


Dispatch = Callable[[list[tuple[Message, PartitionOffsets]]], None]
"""Called on the loop thread with a batch of records and the offsets they belong to."""


class JobConsumer:
    """Polls one `jobs.<type>` topic in a thread for a consumer group of its own."""

    def __init__(self, consumer: Consumer, topic: str, loop: asyncio.AbstractEventLoop,
                 dispatch: Dispatch, *, max_outstanding: int, poll_timeout_s: float,
                 commit_interval_s: float = 0.05, pause_after_s: float = 1.0,
                 stall_s: float = DEFAULT_STALL_S) -> None:
        self._consumer = consumer
        self.topic = topic
        # it polls even while its partitions are paused; a poll call that never returns
        # shows here (`progress.check`)
        self.progress = Progress(f"consumer of {topic}", stall_s)
        self._loop = loop
        self._dispatch = dispatch
        self._max = max_outstanding
        self._poll_timeout = poll_timeout_s
        self._commit_interval = commit_interval_s
        self._pause_after_s = pause_after_s
        self._partitions: dict[int, PartitionOffsets] = {}
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._outstanding = 0
        self._paused = False
        self._dirty = False
        self._draining = False
        self._stop = threading.Event()
        self.assigned = threading.Event()
        """Set once the group gave this member its (possibly empty) share."""
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name=f"poll-{topic}", daemon=True)

    # --- called from the loop ----------------------------------------------------------------

    def start(self) -> None:
        """Subscribe and start polling."""
        self._consumer.subscribe([self.topic], on_assign=self._on_assign,
                                 on_revoke=self._on_revoke, on_lost=self._on_lost)
        self._thread.start()

    def done(self, offsets: PartitionOffsets, offset: int) -> None:
        """A record's job is answered (its command delivered): it may be committed."""
        with self._lock:
            if offsets.revoked:
                return  # already uncounted when its partition was taken away
            self._outstanding -= 1
            self._dirty = offsets.done(offset) or self._dirty
            self._room.notify()

    def drain(self) -> None:
        """Take no more records (the partitions are paused); keep committing."""
        with self._room:
            self._draining = True
            self._room.notify()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop polling, commit what is done, leave the group."""
        self._stop.set()
        self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        """The poll thread runs."""
        return self._thread.is_alive()

    @property
    def partitions(self) -> list[int]:
        """The partitions this member holds."""
        with self._lock:
            return sorted(self._partitions)

    # --- the poll thread ---------------------------------------------------------------------

    def _run(self) -> None:
        last_commit = time.monotonic()
        try:
            while not self._stop.is_set():
                self._flow_control()
                messages = self._fetch()
                self.progress.polled()
                batch = self._accept(messages)
                if batch:
                    self._loop.call_soon_threadsafe(self._dispatch, batch)
                if self._dirty and time.monotonic() - last_commit >= self._commit_interval:
                    self._commit(asynchronous=True)
                    last_commit = time.monotonic()
        except Exception as exc:  # reported by the health check; the process is restarted
            self.error = f"{type(exc).__name__}: {exc}"
            _log.exception("polling %s failed", self.topic)
        finally:
            try:
                self._commit(asynchronous=False)
            except KafkaException as exc:
                _log.warning("final commit on %s failed: %s", self.topic, exc)
            self._consumer.close()

    def _fetch(self) -> list[Message]:
        # consume() waits for a full batch or the timeout, which would add the timeout to
        # every job's latency; so block for the first record only, then take what is there.
        first = self._consumer.poll(self._poll_timeout)
        if first is None:
            return []
        free = self._max - self._outstanding - 1
        return [first, *(self._consumer.consume(min(free, 500), 0) if free > 0 else [])]

    def _accept(self, messages: list[Message]) -> list[tuple[Message, PartitionOffsets]]:
        batch: list[tuple[Message, PartitionOffsets]] = []
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise KafkaException(err)
                _log.warning("consuming %s: %s", self.topic, err)
                continue
            partition, offset = msg.partition(), msg.offset()
            with self._lock:
                offsets = self._partitions.get(partition) if partition is not None else None
                if offsets is None or offset is None:
                    continue  # revoked while in the local queue
                offsets.received(offset)
                self._outstanding += 1
            batch.append((msg, offsets))
        return batch

    def _flow_control(self) -> None:
        # At the bound, wait a moment for a job to finish: jobs are usually short, and a
        # pause drops the records librdkafka prefetched, so pausing each time the bound is hit
        # costs a refetch per cycle (measured: 8x fewer jobs/s). Only a bound still reached
        # after that pauses the partitions; pausing (not ceasing to poll) keeps this member in
        # the group, serving rebalances, while long jobs run.
        with self._room:
            if self._outstanding >= self._max and not self._draining:
                self._room.wait(self._pause_after_s)
            want = self._draining or self._outstanding >= self._max
            if want == self._paused:
                return
            self._paused = want
        assignment = self._consumer.assignment()
        if want:
            self._consumer.pause(assignment)
        else:
            self._consumer.resume(assignment)

    def _commit(self, *, asynchronous: bool, only: set[int] | None = None) -> None:
        with self._lock:
            self._dirty = False
            points = [(p, o.commit_point()) for p, o in self._partitions.items()
                      if only is None or p in only]
        offsets = [TopicPartition(self.topic, p, c) for p, c in points if c is not None]
        if offsets:
            try:
                if asynchronous:
                    self._consumer.commit(offsets=offsets, asynchronous=True)
                else:
                    self._consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:
                err = exc.args[0] if exc.args else None
                if isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET:
                    return
                raise

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._partitions[tp.partition] = PartitionOffsets(tp.partition)
            self._paused = False
        if partitions:
            consumer.resume(partitions)  # a pause may outlive a rebalance
        self.assigned.set()
        _log.info("%s: assigned partitions %s", self.topic, [tp.partition for tp in partitions])

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        revoked = {tp.partition for tp in partitions}
        try:
            self._commit(asynchronous=False, only=revoked)
        except KafkaException as exc:
            _log.warning("commit on revoke of %s failed: %s", self.topic, exc)
        self._drop(revoked)

    def _on_lost(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._drop({tp.partition for tp in partitions})

    def _drop(self, partitions: set[int]) -> None:
        with self._lock:
            for p in partitions:
                offsets = self._partitions.pop(p, None)
                if offsets is not None:
                    offsets.revoked = True
                    # their jobs still finish, but they no longer count against the bound
                    self._outstanding -= offsets.in_flight
