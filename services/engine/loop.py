"""The engine's exactly-once loop over Kafka.

Per iteration: read what `definitions` has, wait for the first committed record of the owned
partitions of `commands` and `messages` (at most the poll timeout, shortened for the next due
timer), take what else is already buffered up to a batch (`fetch`: small batches at low load,
full ones under a burst, and never a wait for a batch to fill), add the TRIGGER_TIMER commands
that fell due, and in one transaction produce everything the batch wrote (see `batch.py`) with
the consumed offsets (KIP-447: with the consumer's group metadata, which fences a replica that
lost its partitions). Any error aborts the transaction; the loop then rebuilds its partitions
from `state` and seeks back to the committed offsets, so a batch counts exactly once.

A command that would write a record over the size limit (`batch.OutputTooLarge`) aborts the
batch the same way; read again, it is refused with an EXCEEDED_SIZE rejection and changes
nothing, so its instance stays at its last good state. When a snapshot at the batch's end is
over the limit (`batch.SnapshotTooLarge`), the batch is redone checking each command's
snapshots, which names the command. Either costs one or two recoveries, never a jam.

It is confluent-kafka's `examples/eos_transactions.py`, plus an abort on every error, an error
check on every polled record and the recovery above.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from concurrent import futures
from typing import NamedTuple

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from laneway.engine import DefinitionRepository
from laneway.engine.limits import BudgetExceeded
from laneway.kafka import TRANSACTION_TIMEOUT_MS, consumer_config, fetch, producer_config
from laneway.records import Record
from laneway.service.progress import Progress, position
from laneway.topics import Topics
from services.engine.admin import Cluster
from services.engine.batch import (
    COMMAND_ROOM,
    BatchWriter,
    Inbound,
    Outgoing,
    OutputTooLarge,
    SizeLimits,
    SnapshotTooLarge,
    batch_offsets,
    decode_all,
    unknown_processes,
)
from services.engine.definitions import DefinitionFeed
from services.engine.metrics import EngineMetrics
from services.engine.partitions import PartitionState, build_partition
from services.engine.restore import read_latest
from services.engine.settings import EngineSettings
from services.engine.txn import bounded, fatal, fenced, kafka_error

_log = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    """Epoch milliseconds: the only clock the service reads (to stamp timer triggers)."""
    return time.time_ns() // 1_000_000


class BatchTiming(NamedTuple):
    """Where one committed batch's time went (`EngineLoop.on_batch`, benchmarks/hop_bench.py):
    monotonic seconds, except `first_ms`, the first record's Kafka timestamp (epoch ms; with
    its key `first_key`), and `woke_at`, the epoch seconds at `woke`, which date the wait
    before the poll returned."""

    records: int
    first_key: bytes | None
    first_ms: int | None
    woke_at: float
    woke: float
    """The poll returned the batch's first record."""
    begun: float
    """The transaction was begun and the offsets' send handed to the sender thread."""
    processed: float
    """Every record of the batch handled and handed to the producer."""
    offsets_sent: float
    """The offsets' send, under way since `begun`, has returned (waited for here)."""
    acked: float
    """The producer's records are acknowledged (a flush before the commit, measuring only)."""
    committed: float
    """`commit_transaction` has returned."""


class ProcessingFailed(RuntimeError):
    """The engine or the codec failed on one record; after a recovery that record goes to the
    DLQ instead of failing the partition forever. When the engine failed because the command
    went beyond its budget (`BudgetExceeded`), the recovery is what discards its partial
    state, and the command is then processed as over budget: an incident on its instance,
    committed like any result."""


class EngineLoop:
    """One replica: its Kafka clients, its partitions, and the loop that drives them."""

    def __init__(self, settings: EngineSettings,
                 clock: Callable[[], int] = wall_clock_ms,
                 metrics: EngineMetrics | None = None) -> None:
        self.settings = settings
        self.metrics = metrics if metrics is not None else EngineMetrics.default()
        self.topics = Topics(settings.common.topic_prefix)
        self.repository = DefinitionRepository()
        self.partitions: dict[int, PartitionState] = {}
        self.partition_count = 0
        self.clock = clock
        self.last_iteration = time.monotonic()
        # polls, and the batch it keeps failing on, for /health (`check_alive`). A restore
        # does not poll but is bounded by its own timeout, so it counts as polling (each
        # partition's restore marks it); a loop blocked in a call (librdkafka's
        # send_offsets_to_transaction after a broker restart) shows after `stall_s`, which an
        # orchestrator answers by a restart (a quiet of restore timeout + 30 s here let the
        # stuck engine hold its partitions for minutes)
        self.progress = Progress("engine loop", settings.common.stall_s)
        self.joined = False
        self.restored = False
        """Set once the first assignment's partitions are restored (/health/started)."""
        self._stop = threading.Event()
        self._needs_recovery = False
        # records that broke processing once, with the error: dead-lettered when seen again
        self._poison: dict[tuple[str, int, int], Exception] = {}
        # commands whose results were over the size limit, with why: refused when seen again
        self._oversize: dict[tuple[str, int, int], str] = {}
        # the next batch checks each command's snapshots (the last one's end had one over the
        # limit); off again once a batch commits
        self._careful = False
        self.limits = SizeLimits(
            record_bytes=settings.common.max_record_bytes,
            command_bytes=settings.common.max_variables_bytes + COMMAND_ROOM)
        # (topic, partition) -> the committed offset of each owned partition, read (stable)
        # before its restore and moved on by each commit: every transaction sends them, so
        # every transaction is checked against the group's generation (KIP-447)
        self._committed: dict[tuple[str, int], int] = {}
        self._cluster: Cluster | None = None
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._definitions: DefinitionFeed | None = None
        # sends each transaction's offsets while its batch is processed (`_transact`); one
        # call at a time, so one thread
        self._sender = futures.ThreadPoolExecutor(1, thread_name_prefix="engine-offsets")
        self.on_batch: Callable[[BatchTiming], None] | None = None
        """Called with each committed batch's timing (a benchmark's probe; None: nothing is
        timed). Setting it adds a flush before each commit, to time the produce's acks apart."""
        self._woke = (0.0, 0.0)

    # -- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to stop after the current transaction (safe from any thread or a
        signal handler)."""
        self._stop.set()

    def run(self) -> None:
        """Connect, run until stopped, and close every client, whatever happens."""
        s = self.settings
        bootstrap = s.common.kafka_bootstrap_servers
        t = self.topics
        try:
            self._cluster = Cluster(bootstrap)
            counts = self._cluster.wait_for(
                [t.commands, t.messages, t.state, t.events, t.definitions, t.dlq],
                s.common.startup_timeout_s)
            if not counts[t.commands] == counts[t.messages] == counts[t.state]:
                raise RuntimeError(
                    f"Expected {t.commands}, {t.messages} and {t.state} to have the same "
                    f"partition count, but they have {counts[t.commands]}, "
                    f"{counts[t.messages]} and {counts[t.state]}")
            self.partition_count = counts[t.commands]
            self.limits = SizeLimits(
                record_bytes=self._cluster.record_limit(
                    [t.events, t.state, t.commands, t.messages, t.dlq],
                    self.limits.record_bytes, s.common.startup_timeout_s),
                command_bytes=self.limits.command_bytes)
            client_id = f"laneway-engine-{s.replica}"
            self._definitions = DefinitionFeed(bootstrap, t.definitions, counts[t.definitions],
                                               self.repository, client_id=client_id)
            if not self._definitions.catch_up(s.common.startup_timeout_s):
                _log.warning("definitions not read to the end at startup; going on")
            self._producer = self._new_producer()
            self._consumer = Consumer({
                **consumer_config(bootstrap, s.group, client_id=client_id),
                **self.metrics.service.lag_config(s.group),
                "session.timeout.ms": s.session_timeout_ms,
                "max.poll.interval.ms": s.max_poll_interval_ms})
            self._consumer.subscribe([t.commands, t.messages], on_assign=self._on_assign,
                                     on_revoke=self._on_revoke, on_lost=self._on_revoke)
            # the collector's thresholds (settings.py: gc_young); the older generations keep
            # Python's own ratios
            gc.set_threshold(s.gc_young, *gc.get_threshold()[1:])
            _log.info("engine replica %s running in group %s on %d partitions",
                      s.replica, s.group, self.partition_count)
            while not self._stop.is_set():
                self.iterate()
        finally:
            self._close()

    def _new_producer(self) -> Producer:
        """A transactional producer under this replica's id; `init_transactions` fences any
        earlier producer of that id and aborts what it left open."""
        s = self.settings
        # producer_config's retry.backoff.ms (5 ms, not librdkafka's 100): a transaction
        # begun right after the last commit finds the coordinator still writing that one's
        # markers, and is asked again that much later
        producer = Producer(producer_config(s.common.kafka_bootstrap_servers,
                                            transactional_id=s.transactional_id,
                                            client_id=f"laneway-engine-{s.replica}"))
        producer.init_transactions(s.common.startup_timeout_s)
        return producer

    def _close(self) -> None:
        # the consumer first: leaving the group lets another replica take over at once
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:  # closing after a fatal error: nothing more to do
                _log.exception("closing the consumer")
        # the sender's last call has ended (every transaction waits for it), so this is quick
        self._sender.shutdown(wait=True)
        if self._producer is not None:
            self._producer.flush(5)
        if self._definitions is not None:
            self._definitions.close()
        self.partitions.clear()
        self.metrics.owned_partitions.set(0)

    # -- partitions ----------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        self.joined = True
        new = sorted({tp.partition for tp in assigned} - set(self.partitions))
        try:
            self._committed.update(self._stable_offsets(new))
            for p in new:
                self.partitions[p] = self._restore(p)
        except Exception:
            # never raise out of a rebalance callback: recover before the next batch instead
            _log.exception("restoring partitions %s failed; recovering", new)
            self._needs_recovery = True
        else:
            self.restored = True
            if self.settings.gc_freeze:
                # the restored instances are long-lived: out of every later collection's walk
                gc.freeze()
        self.metrics.owned_partitions.set(len(self.partitions))

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        for p in {tp.partition for tp in revoked}:
            self.partitions.pop(p, None)
        self._committed = {k: v for k, v in self._committed.items() if k[1] in self.partitions}
        self.metrics.owned_partitions.set(len(self.partitions))

    def _stable_offsets(self, partitions: list[int]) -> dict[tuple[str, int], int]:
        """The committed offsets of `partitions` of `commands` and `messages`, once no other
        producer's transaction holds offsets of theirs pending (read_committed asks the group
        coordinator for stable offsets and waits while there are none).

        Read before `state` is restored, so the state restored is the state of these offsets:
        a replica that lost these partitions may still commit a transaction whose offsets it
        sent while it owned them (KIP-447 lets it: its generation was current then), and its
        records need not be on `state` yet when the restore reads to the end. Once the
        offsets are stable, any later commit of that replica's offsets is refused (its
        generation is gone), so nothing it writes afterwards belongs to these offsets."""
        consumer = self._consumer
        assert consumer is not None
        if not partitions:
            return {}
        t = self.topics
        asked = [TopicPartition(topic, p) for p in partitions for topic in (t.commands,
                                                                              t.messages)]
        found = consumer.committed(asked, timeout=self.settings.restore_timeout_s)
        for tp in found:
            if tp.error is not None:
                raise KafkaException(tp.error)
        return {(tp.topic, tp.partition): tp.offset for tp in found}

    def _restore(self, partition: int) -> PartitionState:
        self.progress.polled()
        started = time.monotonic()
        latest = read_latest(self.settings.common.kafka_bootstrap_servers, self.topics.state,
                             partition, self.settings.restore_timeout_s,
                             client_id=f"laneway-engine-{self.settings.replica}-restore")
        part = build_partition(partition, self.repository, latest.values(),
                               self.settings.limits, partners=self.settings.agencies.sendable,
                               warm=self.settings.warm_instances)
        elapsed = time.monotonic() - started
        self.metrics.restore_seconds.observe(elapsed)
        _log.info("restored partition %d: %d instances, %d timers in %.3fs", partition,
                  len(part.state.instances), len(part.timers), elapsed)
        self.progress.polled()
        return part

    def _recover(self) -> None:
        """Rebuild every owned partition from `state` and go back to the committed offsets:
        what the aborted batch did in memory is forgotten, and it is read again."""
        consumer = self._consumer
        assert consumer is not None
        assignment = consumer.assignment()
        owned = sorted({tp.partition for tp in assignment})
        # the offsets first, then the state as of them (see `_stable_offsets`)
        self._committed = self._stable_offsets(owned)
        self.partitions = {p: self._restore(p) for p in owned}
        self.metrics.owned_partitions.set(len(self.partitions))
        for tp in assignment:
            offset = self._committed.get((tp.topic, tp.partition), -1)
            consumer.seek(TopicPartition(tp.topic, tp.partition,
                                         offset if offset >= 0 else OFFSET_BEGINNING))
        self._needs_recovery = False
        self.restored = True
        _log.info("recovered partitions %s", sorted(self.partitions))

    # -- the loop ------------------------------------------------------------------------

    def iterate(self) -> None:
        """One iteration: read definitions, consume, fire due timers, process a batch."""
        consumer, definitions = self._consumer, self._definitions
        assert consumer is not None
        assert definitions is not None
        self.last_iteration = time.monotonic()
        if self._needs_recovery:
            try:
                self._recover()
            except Exception:
                _log.exception("recovery failed; trying again")
                self.progress.failed("the restore of its partitions")
                self._stop.wait(1.0)
                return
        definitions.poll()
        messages = fetch(consumer, self.settings.batch_size, self._poll_timeout())
        if self.on_batch is not None:
            self._woke = (time.time(), time.monotonic())
        gather = self.settings.gather_min - len(messages)
        if messages and gather > 0 and self.settings.gather_s > 0:
            # a short batch waits a little for more (`gather_s`): one transaction for several
            # commands at moderate load rather than one each
            messages += consumer.consume(gather, timeout=min(self.settings.gather_s,
                                                             self._poll_timeout()))
        self.progress.polled()
        good = [m for m in messages if _usable(m)]
        if self._needs_recovery or any(m.partition() not in self.partitions for m in good):
            # the assignment changed under this batch and a restore failed: read it again
            self._needs_recovery = True
            return
        now = self.clock()
        triggers = {p: part.timers.due(now, part.state.instances)
                    for p, part in self.partitions.items()}
        triggers = {p: t for p, t in triggers.items() if t}
        if good or triggers or self._ended_expired(now):
            self._transact(decode_all(good, self.limits.record_bytes), triggers, now)

    def _ended_expired(self, now: int) -> bool:
        """Whether a partition keeps an ended id past the retention: a batch then forgets it
        even when no record arrives (the oldest is first, so this looks at one per partition)."""
        before = now - int(self.settings.ended_ids_retention_s * 1000)
        return any(next(iter(p.state.ended.values()), before) < before
                   for p in self.partitions.values())

    def _poll_timeout(self) -> float:
        """The poll timeout, shortened so the next due timer is not late."""
        timeout = self.settings.poll_timeout_s
        dues = [d for d in (p.timers.next_due() for p in self.partitions.values())
                if d is not None]
        if dues:
            timeout = min(timeout, max(0.0, (min(dues) - self.clock()) / 1000))
        return timeout

    def _transact(self, batch: list[Inbound], triggers: dict[int, list[Record]],
                  now: int) -> None:
        producer, consumer, definitions = self._producer, self._consumer, self._definitions
        assert producer is not None
        assert consumer is not None
        assert definitions is not None
        started = time.monotonic()
        missing = unknown_processes(batch, self.repository)
        if missing and not definitions.catch_up(self.settings.definitions_wait_s):
            _log.warning("definitions of %s not caught up in time", sorted(missing))
        writer = BatchWriter(
            self.topics, self.partitions, self.partition_count, self._ensure_job_topic,
            self.limits, careful=self._careful,
            ended_retention_ms=int(self.settings.ended_ids_retention_s * 1000),
            agencies=self.settings.agencies)
        producer.begin_transaction()
        # the owned partitions' offsets with every transaction, moved on or not: a batch of
        # timer triggers alone is checked against the group's generation too, so a replica
        # that lost its partitions commits nothing (KIP-447). The batch's own are known before
        # it is processed (each of its records is processed, refused or dead-lettered, or the
        # transaction aborts), so they are sent from another thread while it is processed:
        # their two round trips (AddOffsetsToTxn, TxnOffsetCommit) overlap the CPU work
        # instead of following it. Checked against what the batch consumed before the commit.
        offsets = {k: v for k, v in self._committed.items()
                   if k[1] in self.partitions and v >= 0}
        offsets.update(batch_offsets(batch))
        limit = self._transaction_s
        sending = self._send_offsets(offsets, limit) if offsets else None
        begun = time.monotonic()
        current: tuple[str, int, int] | None = None
        produced = 0
        out = writer.out
        try:
            for inbound in batch:
                current = inbound.position
                poison = self._poison.pop(current, None)
                if poison is not None and not isinstance(poison, BudgetExceeded):
                    writer.dead_letter(inbound, poison)
                elif (oversize := self._oversize.pop(current, None)) is not None:
                    writer.refuse(inbound, oversize)
                else:
                    try:
                        writer.handle(inbound, poison)
                    except (KafkaException, OutputTooLarge):
                        raise
                    except Exception as exc:
                        raise ProcessingFailed(str(exc)) from exc
                # what this command wrote goes to the producer now: librdkafka sends it
                # (and adds its partitions to the transaction) from its own thread while
                # the next commands are handled, instead of all of it after the last one
                if len(out) > produced:
                    self._produce(out[produced:])
                    produced = len(out)
            current = None
            for cmds in triggers.values():
                writer.commands(cmds)
            writer.finish(now)
            self._produce(out[produced:])
            consumed = {k: v for k, v in self._committed.items()
                        if k[1] in self.partitions and v >= 0}
            consumed.update(writer.offsets)
            if consumed != offsets:
                # never expected: the offsets sent are not what the batch consumed
                raise RuntimeError(f"Expected the batch to consume up to {offsets}, but it "
                                   f"consumed up to {consumed}")
            committing = time.monotonic()
            if sending is not None:
                sending.result()
                sending = None
            offsets_sent = acked = time.monotonic()
            if self.on_batch is not None:
                producer.flush(limit)
                acked = time.monotonic()
            bounded(producer.commit_transaction, "the commit", limit)
            self.metrics.transaction_seconds.observe(time.monotonic() - committing)
            self._committed.update(offsets)
        except Exception as exc:
            if sending is not None:
                # no other transactional call while the offsets' send is under way (it ends
                # by its own bound); its error, if any, is moot: the batch is aborted anyway
                futures.wait([sending])
            self.progress.failed(position(*current) if current is not None else _first(batch))
            self._abort(exc, current)
            return
        self.progress.advanced()
        self._careful = False
        for p, cmds in triggers.items():
            if p in self.partitions:
                self.partitions[p].timers.sent(cmds)
        self._count(writer, batch, triggers, time.monotonic() - started)
        if self.on_batch is not None:
            self.on_batch(BatchTiming(
                len(batch), batch[0].message.key() if batch else None,
                batch[0].message.timestamp()[1] if batch else None,
                *self._woke, begun, committing, offsets_sent, acked, time.monotonic()))

    def _abort(self, exc: Exception, current: tuple[str, int, int] | None) -> None:
        producer = self._producer
        assert producer is not None
        self.metrics.aborts.inc()
        if isinstance(exc.__cause__, BudgetExceeded):
            # a diagram's runaway, not a fault: its instance gets the incident once redone
            _log.warning("a command went beyond its budget, redoing the batch without it: %s",
                         exc)
        else:
            _log.error("batch failed, aborting: %s: %s", type(exc).__name__, exc,
                       exc_info=not isinstance(exc, KafkaException | OutputTooLarge
                                               | SnapshotTooLarge))
        if isinstance(exc, ProcessingFailed) and current is not None:
            cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
            self._poison[current] = cause
        elif isinstance(exc, OutputTooLarge):
            self._oversize[exc.position] = exc.reason
        elif isinstance(exc, SnapshotTooLarge):
            self._careful = True
        if fenced(exc):
            # a newer process of this replica took the transactional id: it owns the
            # partitions now, and this one must not write again (nor fence it back)
            raise exc
        if fatal(exc) or _refused_record(exc):
            # a record the broker refused (a `jobs.<type>` topic set smaller than the record):
            # aborted and reused, the producer's next transaction could not add its offsets
            # (CONCURRENT_TRANSACTIONS for as long as it tried); a new one starts clean
            self._renew_producer(exc)
        else:
            try:
                bounded(producer.abort_transaction, "the abort", self._transaction_s)
            except KafkaException as abort_error:
                if fenced(abort_error):
                    raise
                if not fatal(abort_error):
                    # neither aborted nor known to be gone: a new batch cannot begin; a new
                    # process (or the broker's transaction timeout) ends this transaction
                    raise
                self._renew_producer(abort_error)
        self._needs_recovery = True

    @property
    def _transaction_s(self) -> float:
        """How long the loop retries one transactional call: the transaction's own timeout,
        after which the broker aborts it anyway."""
        return TRANSACTION_TIMEOUT_MS / 1000

    def _renew_producer(self, cause: BaseException) -> None:
        """Replace a producer that failed for good (not fenced) by a new one under the same
        transactional id; what the old one left open is aborted by the new one's
        `init_transactions`."""
        _log.error("the transactional producer failed for good (%s); starting a new one", cause)
        old = self._producer
        self._producer = None
        if old is not None:
            try:
                old.purge()
            except KafkaException as exc:  # a fatal producer may refuse even this
                _log.warning("purging the failed producer: %s", exc)
        self._producer = self._new_producer()

    def _produce(self, records: list[Outgoing]) -> None:
        """Produce `records` into the open transaction, in order."""
        producer = self._producer
        assert producer is not None
        for rec in records:
            while True:
                try:
                    if rec.partition is None:
                        producer.produce(rec.topic, rec.value, rec.key, headers=rec.headers)
                    else:
                        producer.produce(rec.topic, rec.value, rec.key,
                                         partition=rec.partition, headers=rec.headers)
                    break
                except BufferError:
                    producer.poll(0.05)  # the local queue is full: let it drain

    def _send_offsets(self, offsets: dict[tuple[str, int], int],
                      limit: float) -> futures.Future[None]:
        """Send `offsets` to the open transaction from the sender thread (bounded like the
        loop's own calls); the future raises what the send raised."""
        consumer, producer = self._consumer, self._producer
        assert consumer is not None
        assert producer is not None
        metadata = consumer.consumer_group_metadata()
        listed = [TopicPartition(t, p, o) for (t, p), o in offsets.items()]
        return self._sender.submit(bounded, lambda timeout: producer.send_offsets_to_transaction(
            listed, metadata, timeout), "sending the offsets", limit)

    def _ensure_job_topic(self, topic: str) -> None:
        assert self._cluster is not None
        self._cluster.ensure_topic(topic, self.partition_count)

    def _count(self, writer: BatchWriter, batch: list[Inbound],
               triggers: dict[int, list[Record]], elapsed: float) -> None:
        stats = writer.stats
        m = self.metrics
        for intent, n in stats.commands.items():
            m.commands.labels(m.intent(intent)).inc(n)
        for intent, n in stats.rejections.items():
            m.rejections.labels(m.intent(intent)).inc(n)
        for reason, n in stats.dead_letters.items():
            m.dead_letters.labels(reason).inc(n)
        for job_type, n in stats.jobs.items():
            m.jobs.labels(m.job_type(job_type)).inc(n)
        m.incidents_created.inc(stats.incidents_created)
        m.incidents_resolved.inc(stats.incidents_resolved)
        self.metrics.events.inc(stats.events)
        self.metrics.timers.inc(sum(len(t) for t in triggers.values()))
        if batch:
            self.metrics.batch_size.observe(len(batch))
            self.metrics.batch_seconds.observe(elapsed)

    # -- health --------------------------------------------------------------------------

    def check_joined(self) -> str | None:
        """Health: the consumer has joined the group and got its (maybe empty) assignment."""
        return None if self.joined else "not yet assigned partitions by the group"

    def check_alive(self) -> str | None:
        """Health: the loop polls (a call into librdkafka that never returns stops it) and
        gets past its batches (one that fails and is read again, forever, does not)."""
        return self.progress.check()


def _first(batch: list[Inbound]) -> str:
    """Where a failed batch starts (the recovery reads it again from there)."""
    if not batch:
        return "a batch of timer triggers"
    return position(*batch[0].position)


def _usable(msg: Message) -> bool:
    """The error check on every polled record: a partition end is no error; any other error
    is logged (librdkafka retries transient ones itself) or, when fatal, raised."""
    err = msg.error()
    if err is None:
        return True
    if err.code() == KafkaError._PARTITION_EOF:
        return False
    if err.fatal():
        raise KafkaException(err)
    _log.warning("consumer error: %s", err)
    return False


# produce errors the broker gives for one record: the transaction cannot commit, and the
# producer that sent it is not reused
_RECORD_REFUSED = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_RECORD})


def _refused_record(exc: BaseException) -> bool:
    err = kafka_error(exc)
    return err is not None and err.code() in _RECORD_REFUSED
