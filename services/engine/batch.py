"""One batch: consumed records in, the records to produce in the batch's transaction out.

No Kafka client here: the loop owns producing, committing and recovering. What goes where:

| what | topic | key | partition |
|---|---|---|---|
| every event and rejection | `events` | instance id (else the command's correlation key) | by key |
| every JOB_CREATED event, projected | `jobs.<type>` | instance id | by key |
| follow-up commands | `Topics.route` | instance id or correlation key | by key |
| a signal broadcast | `messages` | signal name | each partition, explicitly |
| snapshots of the instances the batch touched | `state` | instance id | by key |
| an ended instance: final snapshot, then a tombstone | `state` | instance id | by key |
| the message side of partition *p* | `state` | `__messages__/<p>` | *p*, explicitly |
| an undecodable record or one that is no command | `dlq` | as received | by key |
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from confluent_kafka import Message

from laneway.codec import DecodeError, JobRecord, dead_letter_headers, decode_record, encode_job
from laneway.codec import encode_record as encode
from laneway.engine import DefinitionRepository
from laneway.engine.limits import BudgetExceeded
from laneway.engine.state import InstanceStatus
from laneway.records import Command, Event, Record, RecordKind
from laneway.topics import Topics, is_broadcast, message_key
from services.engine.partitions import (
    PartitionState,
    instance_snapshot,
    message_side_snapshot,
    unindex_signals,
)

Headers = list[tuple[str, str | bytes | None]]

# events that change the message side of a partition (subscriptions by correlation key, the
# message buffer): only then is its snapshot written again
MESSAGE_SIDE_EVENTS = frozenset({
    Event.PROCESS_MESSAGE_SUBSCRIPTION_OPENED.value,
    Event.PROCESS_MESSAGE_SUBSCRIPTION_CLOSED.value,
    Event.MESSAGE_PUBLISHED.value,
    Event.MESSAGE_CORRELATED.value,
    Event.MESSAGE_EXPIRED.value,
    "MESSAGE_CORRELATION_RETRACTED",
})
_ENDED = (InstanceStatus.COMPLETED, InstanceStatus.TERMINATED)
# marks a broadcast copy meant for one partition; a broadcast without it was written by a
# client to one partition only and is fanned out by the engine first
BROADCAST_PARTITION = "partition"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to produce in the batch's transaction."""

    topic: str
    key: bytes | None
    value: bytes | None
    partition: int | None = None
    headers: Headers | None = None


@dataclass(slots=True)
class Inbound:
    """A consumed record and what decoding it gave: a command, or the reason it is none."""

    message: Message
    record: Record | None
    error: Exception | None

    @property
    def position(self) -> tuple[str, int, int]:
        """(topic, partition, offset): where it was read."""
        return (self.message.topic() or "", self.message.partition() or 0,
                self.message.offset() or 0)


class NotACommand(ValueError):
    """A well-formed record on an engine input topic that is not a command."""


def decode_all(messages: list[Message]) -> list[Inbound]:
    """Decode a batch; a record that is no command is kept with its error (for the DLQ)."""
    out: list[Inbound] = []
    for msg in messages:
        try:
            record = decode_record(msg.value() or b"")
        except DecodeError as exc:
            out.append(Inbound(msg, None, exc))
            continue
        if record.kind != RecordKind.COMMAND:
            out.append(Inbound(msg, None, NotACommand(
                f"Expected a COMMAND, but got {record.kind.value} '{record.intent}'")))
            continue
        out.append(Inbound(msg, record, None))
    return out


def unknown_processes(batch: list[Inbound], repository: DefinitionRepository) -> set[str]:
    """Process ids the batch starts that the repository does not have (yet)."""
    return {
        str(i.record.value.get("processId", ""))
        for i in batch
        if i.record is not None and i.record.intent == Command.START_INSTANCE.value
        and not repository.has(str(i.record.value.get("processId", "")))
    }


@dataclass(slots=True)
class Stats:
    """What a batch did, counted into the metrics only once its transaction committed."""

    commands: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    events: int = 0


class BatchWriter:
    """Processes a batch's commands with their partitions' engines and collects what to
    produce, in order."""

    def __init__(self, topics: Topics, partitions: Mapping[int, PartitionState],
                 partition_count: int, ensure_topic: Callable[[str], None]) -> None:
        self.topics = topics
        self.partitions = partitions
        self.partition_count = partition_count
        self.ensure_topic = ensure_topic
        self.out: list[Outgoing] = []
        self.stats = Stats()
        # (topic, partition) -> offset of the next record to read
        self.offsets: dict[tuple[str, int], int] = {}
        # partition -> instance id -> commands offset of the last command that touched it
        self._touched: dict[int, dict[str, int]] = {}
        self._message_side: set[int] = set()

    def dead_letter(self, inbound: Inbound, error: Exception) -> None:
        """Send a record unchanged to the DLQ with the reason in its headers."""
        topic, partition, offset = inbound.position
        headers = dead_letter_headers(error, topic, partition, offset)
        received = inbound.message.headers() or []
        kept: Headers = list(received.items() if isinstance(received, dict) else received)
        self.out.append(Outgoing(self.topics.dlq, inbound.message.key(),
                                 inbound.message.value(), headers=kept + list(headers)))
        self.stats.dead_letters[headers[0][1].decode()] += 1
        self.consumed(inbound)

    def consumed(self, inbound: Inbound) -> None:
        """Count a record as done: its offset + 1 is committed with the batch."""
        topic, partition, offset = inbound.position
        self.offsets[(topic, partition)] = offset + 1

    def handle(self, inbound: Inbound, over_budget: BudgetExceeded | None = None) -> None:
        """Process one decoded record (or dead-letter it). A command that went beyond its
        budget before (`over_budget`, the partitions restored since) is not run again: its
        instance gets the incident instead."""
        if inbound.record is None:
            assert inbound.error is not None
            self.dead_letter(inbound, inbound.error)
            return
        cmd = inbound.record
        topic, partition, offset = inbound.position
        if is_broadcast(cmd) and BROADCAST_PARTITION not in cmd.value:
            self._broadcast(cmd, start_instances=bool(cmd.value.get("startInstances", True)))
            self.consumed(inbound)
            return
        part = self.partitions[partition]
        result = (part.engine.process(cmd) if over_budget is None
                  else part.engine.over_budget(cmd, over_budget))
        self.stats.commands[cmd.intent] += 1
        touched = self._touched.setdefault(partition, {})
        for ev in result.events:
            key = ev.instance_id or message_key(cmd)
            self.out.append(Outgoing(self.topics.events, key.encode(), encode(ev)))
            self.stats.events += 1
            if ev.kind == RecordKind.REJECTION:
                self.stats.rejections[cmd.intent] += 1
                continue
            if ev.instance_id in part.state.instances and (
                    topic == self.topics.commands or ev.instance_id not in touched):
                touched[ev.instance_id] = offset if topic == self.topics.commands else -1
            if ev.intent in MESSAGE_SIDE_EVENTS:
                self._message_side.add(partition)
            if ev.intent == Event.JOB_CREATED.value:
                job_topic = self.topics.jobs(str(ev.value["type"]))
                self.ensure_topic(job_topic)
                self.out.append(Outgoing(job_topic, ev.instance_id.encode(),
                                         encode_job(JobRecord.from_event(ev))))
        part.timers.observe(result.events)
        self.commands(result.commands)
        self.consumed(inbound)

    def commands(self, commands: list[Record]) -> None:
        """Route follow-up (or engine-made) commands to their topics."""
        for cmd in commands:
            if is_broadcast(cmd):
                self._broadcast(cmd, start_instances=bool(cmd.value.get("startInstances", True)))
                continue
            topic, key = self.topics.route(cmd)
            self.out.append(Outgoing(topic, key.encode(), encode(cmd)))

    def _broadcast(self, cmd: Record, *, start_instances: bool) -> None:
        """A signal goes to every partition's message side; only partition 0 starts the
        processes it starts, so each starts once. Each copy has its own record id, so the
        events each partition derives from it have distinct ids too."""
        for p in range(self.partition_count):
            copy = replace(cmd, record_id=f"{cmd.record_id}@{p}", value={
                **cmd.value, BROADCAST_PARTITION: p,
                "startInstances": start_instances and p == 0})
            self.out.append(Outgoing(self.topics.messages, message_key(cmd).encode(),
                                     encode(copy), partition=p))

    def finish(self, timestamp: int) -> None:
        """Snapshots of everything the batch changed, after its records: the touched
        instances (an ended one's last snapshot then a tombstone, and it leaves memory) and
        each changed message side."""
        for partition, touched in self._touched.items():
            part = self.partitions[partition]
            for instance_id, offset in touched.items():
                inst = part.state.instances[instance_id]
                key = instance_id.encode()
                self.out.append(Outgoing(self.topics.state, key,
                                         instance_snapshot(inst, timestamp, offset)))
                if inst.status in _ENDED:
                    self.out.append(Outgoing(self.topics.state, key, None))
                    del part.state.instances[instance_id]
                    unindex_signals(part.state, instance_id)
                    part.timers.forget(instance_id)
        for partition in sorted(self._message_side):
            self.out.append(Outgoing(
                self.topics.state, f"__messages__/{partition}".encode(),
                message_side_snapshot(partition, self.partitions[partition].state, timestamp),
                partition=partition))
