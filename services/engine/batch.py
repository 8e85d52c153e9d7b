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
| an ended instance's marker (tombstoned later) | `state` | `__ended__/<id>` | explicitly |
| each changed message-side item of partition *p* | `state` | `__messages__/<p>/..` | *p* |
| an undecodable record or one that is no command | `dlq` | as received | by key |
| a message to another agency's pool (an envelope) | its send topic | correlation key | by key |

Every record is measured against the record limit before it is produced (`SizeLimits`,
docs/limits.md): a record read over it is dead-lettered (its value left out when the dead letter
would be over it too); a command record over the command limit is rejected unprocessed; what a
command would write over it raises `OutputTooLarge`, and a snapshot over it at the batch's end
`SnapshotTooLarge` — the loop then redoes the batch and refuses that command (see
`services/engine/loop.py`).

Traces (docs/telemetry.md): one span per command processed (`laneway.engine.<intent>`), a
child of the context in the command record's headers, in the instance's trace; its events,
jobs and follow-up commands carry its context in their headers. A child instance a call
activity starts gets its own trace, whose first span links to the command's span and back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from confluent_kafka import Message
from opentelemetry.trace import Span

from laneway.agencies import AgencyConfig, Envelope, Refused, encode_envelope
from laneway.codec import (
    DecodeError,
    JobRecord,
    dead_letter_headers,
    decode_record_traced,
    encode_instance,
    encode_job,
    fit_dead_letter,
)
from laneway.codec import encode_record as encode
from laneway.engine import DefinitionRepository
from laneway.engine.limits import BudgetExceeded
from laneway.engine.state import InstanceStatus
from laneway.limits import (
    DEFAULT_MAX_RECORD_BYTES,
    DEFAULT_MAX_VARIABLES_BYTES,
    TooLarge,
    record_size,
)
from laneway.records import Command, Event, Record, RecordKind, RejectionType
from laneway.telemetry import (
    enter_instance,
    fail,
    instance_span,
    leave_instance,
    linked_trace,
    put_attributes,
    trace_headers,
    tracing,
)
from laneway.topics import Topics, is_broadcast, message_key
from services.engine.partitions import (
    ParkedInstances,
    PartitionState,
    buffered_message_key,
    buffered_message_snapshot,
    ended_key,
    ended_marker,
    message_side_key,
    subscription_key,
    subscription_snapshot,
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
# how long an ended instance's id is refused for a new start, and how many expired ids one
# batch forgets at most (the rest wait for the next batches: no batch grows without bound)
ENDED_RETENTION_MS = 7 * 24 * 3600 * 1000
ENDED_PRUNE_PER_BATCH = 1000
# marks a broadcast copy meant for one partition; a broadcast without it was written by a
# client to one partition only and is fanned out by the engine first
BROADCAST_PARTITION = "partition"


COMMAND_ROOM = 64 * 1024
"""What a command record may hold besides its variables (its envelope, principal, keys)."""
# a snapshot checked command by command must be this far under the limit, so the batch's final
# snapshot of it (whose stamps may encode a few bytes longer) is under it too
_SNAPSHOT_MARGIN = 64


@dataclass(frozen=True, slots=True)
class SizeLimits:
    """How large the records the engine reads and writes may be."""

    record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    """Every record produced, and every record read (`LANEWAY_MAX_RECORD_BYTES`, lowered to
    what the topics take)."""
    command_bytes: int = DEFAULT_MAX_VARIABLES_BYTES + COMMAND_ROOM
    """A command record larger is rejected unprocessed (`LANEWAY_MAX_VARIABLES_BYTES` plus
    `COMMAND_ROOM`): the API's variables limit again, for commands from any producer."""


class OutputTooLarge(Exception):
    """What one command would write holds a record over the limit. Its state changes are
    already applied in memory, so the batch is aborted and redone with the command refused."""

    def __init__(self, position: tuple[str, int, int], reason: str) -> None:
        super().__init__(reason)
        self.position = position
        self.reason = reason


class SnapshotTooLarge(Exception):
    """A snapshot at the batch's end is over the limit, and which of the batch's commands grew
    it is not known: the batch is redone checking each command's snapshots (`careful`)."""


class Outgoing(NamedTuple):
    """One record to produce in the batch's transaction (a named tuple: a command makes
    about seven of them, and a frozen dataclass's `__init__` cost ~4 µs more each)."""

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
    trace: str | None = None
    """The command's W3C trace parent, if it was written with one (handed on to a partner
    agency in the envelope of a message it sends)."""

    @property
    def position(self) -> tuple[str, int, int]:
        """(topic, partition, offset): where it was read."""
        return (self.message.topic() or "", self.message.partition() or 0,
                self.message.offset() or 0)


class NotACommand(ValueError):
    """A well-formed record on an engine input topic that is not a command."""


def decode_all(messages: list[Message],
               record_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> list[Inbound]:
    """Decode a batch; a record that is no command, or is over `record_bytes` (a compressed
    batch can carry one the topic's own limit let through), is kept with its error (for the
    DLQ)."""
    out: list[Inbound] = []
    for msg in messages:
        size = record_size(msg.key(), msg.value())
        if size > record_bytes:
            out.append(Inbound(msg, None, TooLarge(
                f"Expected a record of at most {record_bytes} bytes, but it is {size}")))
            continue
        try:
            record, trace = decode_record_traced(msg.value() or b"")
        except DecodeError as exc:
            out.append(Inbound(msg, None, exc))
            continue
        if record.kind != RecordKind.COMMAND:
            out.append(Inbound(msg, None, NotACommand(
                f"Expected a COMMAND, but got {record.kind.value} '{record.intent}'")))
            continue
        out.append(Inbound(msg, record, None, trace))
    return out


def batch_offsets(batch: list[Inbound]) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the offset after the batch's last record there: what committing
    the batch commits (every record is consumed, in order, or the batch aborts)."""
    offsets: dict[tuple[str, int], int] = {}
    for inbound in batch:
        topic, partition, offset = inbound.position
        offsets[(topic, partition)] = offset + 1
    return offsets


def unknown_processes(batch: list[Inbound], repository: DefinitionRepository) -> set[str]:
    """Process ids the batch starts that the repository does not have (yet): a START_INSTANCE's
    and a conditional start's that names its process (EVALUATE_CONDITIONS right after the
    version was authorized must not be refused for a definition still on its way)."""
    return {
        str(i.record.value.get("processId", ""))
        for i in batch
        if i.record is not None and (
            i.record.intent == Command.START_INSTANCE.value
            or (i.record.intent == Command.EVALUATE_CONDITIONS.value
                and i.record.value.get("processId")))
        and not repository.has(str(i.record.value.get("processId", "")))
    }


@dataclass(slots=True)
class SideChanges:
    """The items of a partition's message side that commands changed: buffered messages by
    id, process subscriptions by `<instance id>/<subscription key>` with their (name,
    correlation key)."""

    messages: set[str] = field(default_factory=set)
    subs: dict[str, tuple[str, str]] = field(default_factory=dict)

    def note(self, ev: Record) -> None:
        """Note what a message-side event changed (opened, closed, published, correlated,
        retracted, expired)."""
        v = ev.value
        if "subKey" in v and "instanceId" in v:
            self.subs[f"{v['instanceId']}/{v['subKey']}"] = (str(v["name"]),
                                                              str(v["correlationKey"]))
        if "messageId" in v:
            self.messages.add(str(v["messageId"]))

    def update(self, other: SideChanges) -> None:
        """Add what `other` changed."""
        self.messages |= other.messages
        self.subs.update(other.subs)


@dataclass(slots=True)
class Stats:
    """What a batch did, counted into the metrics only once its transaction committed."""

    commands: Counter[str] = field(default_factory=Counter)
    rejections: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    jobs: Counter[str] = field(default_factory=Counter)
    """JOB_CREATED events by job type."""
    incidents_created: int = 0
    incidents_resolved: int = 0
    events: int = 0


class BatchWriter:
    """Processes a batch's commands with their partitions' engines and collects what to
    produce, in order."""

    def __init__(self, topics: Topics, partitions: Mapping[int, PartitionState],
                 partition_count: int, ensure_topic: Callable[[str], None],
                 limits: SizeLimits | None = None, *, careful: bool = False,
                 ended_retention_ms: int = ENDED_RETENTION_MS,
                 ended_prune_per_batch: int = ENDED_PRUNE_PER_BATCH,
                 agencies: AgencyConfig | None = None) -> None:
        self.topics = topics
        # this agency's partners: where a message to another agency's pool goes
        self.agencies = agencies
        # the trace parent of the command being handled (for an envelope it sends)
        self._trace: str | None = None
        # its span's trace context, for the records it writes (None: tracing off)
        self._headers: Headers | None = None
        self.ended_retention_ms = ended_retention_ms
        self.ended_prune_per_batch = ended_prune_per_batch
        self.limits = limits if limits is not None else SizeLimits()
        # check each command's snapshots as it is processed (a redone batch whose end had a
        # snapshot over the limit): slower, so only then
        self.careful = careful
        # careful: instance id (or message side partition) -> the last command that touched it
        self._last_toucher: dict[str | int, tuple[str, int, int]] = {}
        self.partitions = partitions
        self.partition_count = partition_count
        self.ensure_topic = ensure_topic
        self.out: list[Outgoing] = []
        self.stats = Stats()
        # (topic, partition) -> offset of the next record to read
        self.offsets: dict[tuple[str, int], int] = {}
        # partition -> instance id -> commands offset of the last command that touched it
        self._touched: dict[int, dict[str, int]] = {}
        self._message_side: dict[int, SideChanges] = {}
        # the topic names, read once (each `Topics` property formats its name on every read)
        self._prefix = topics.prefix
        self._commands_topic = topics.commands
        self._events_topic = topics.events
        self._state_topic = topics.state
        # job type -> its `jobs.<type>` topic, made sure of once per batch
        self._job_topics: dict[str, str] = {}

    def dead_letter(self, inbound: Inbound, error: Exception) -> None:
        """Send a record unchanged to the DLQ with the reason in its headers."""
        topic, partition, offset = inbound.position
        headers = dead_letter_headers(error, topic, partition, offset)
        received = inbound.message.headers() or []
        kept: Headers = list(received.items() if isinstance(received, dict) else received)
        key, value, sent = fit_dead_letter(inbound.message.key(), inbound.message.value(),
                                           kept + list(headers), self.limits.record_bytes)
        self.out.append(Outgoing(self.topics.dlq, key, value, headers=sent))
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
        if is_broadcast(cmd) and BROADCAST_PARTITION not in cmd.value:
            first = len(self.out)
            self._broadcast(cmd, start_instances=bool(cmd.value.get("startInstances", True)))
            self._check_written(first, inbound.position)
            self.consumed(inbound)
            return
        size = len(inbound.message.value() or b"")
        if not tracing():
            # tracing off (the common case): the instance named for log lines, no span
            token = enter_instance(cmd.instance_id)
            try:
                if size > self.limits.command_bytes:
                    self.refuse(inbound, _command_too_large(size, self.limits.command_bytes))
                else:
                    self._process(inbound, over_budget)
            finally:
                leave_instance(token)
            return
        with instance_span(f"laneway.engine.{cmd.intent.lower()}", cmd.instance_id,
                           element_id=cmd.element_id, headers=_parent_of(inbound)) as span:
            if size > self.limits.command_bytes:
                reason = _command_too_large(size, self.limits.command_bytes)
                fail(span, reason, "rejection", {"laneway.intent": cmd.intent,
                                                 "laneway.rejection_type": "EXCEEDED_SIZE"})
                self.refuse(inbound, reason)
                return
            self._headers = trace_headers(span)
            try:
                events = self._process(inbound, over_budget)
            finally:
                self._headers = None
            if span.is_recording():
                _describe(span, cmd, events)

    def _process(self, inbound: Inbound, over_budget: BudgetExceeded | None) -> list[Record]:
        """Process a command with its partition's engine; the events it wrote."""
        cmd = inbound.record
        assert cmd is not None
        message = inbound.message
        topic, partition, offset = (message.topic() or "", message.partition() or 0,
                                    message.offset() or 0)
        part = self.partitions[partition]
        # the topic without the prefix (which may hold dots): `commands-3-17`
        where = f"{topic.removeprefix(self._prefix)}-{partition}-{offset}"
        headers = self._headers
        # the trace parent handed to a partner agency: the command span's, else the record's
        self._trace = (headers[0][1].decode() if headers and isinstance(headers[0][1], bytes)
                       else inbound.trace)
        delivery = where.replace(".", "_")
        out = self.out
        first = len(out)
        result = (part.engine.process(cmd, delivery=delivery) if over_budget is None
                  else part.engine.over_budget(cmd, over_budget, delivery=delivery))
        stats = self.stats
        stats.commands[cmd.intent] += 1
        touched = self._touched.get(partition)
        if touched is None:
            touched = self._touched[partition] = {}
        instances = part.state.instances
        # the offset a snapshot records: a command's, or -1 for one read from `messages`
        snapshot_offset = offset if topic == self._commands_topic else -1
        events_topic = self._events_topic
        side: SideChanges | None = None  # made for the few commands on the message side
        for ev in result.events:
            instance_id = ev.instance_id
            out.append(Outgoing(events_topic, (instance_id or message_key(cmd)).encode(),
                                encode(ev), None, headers))
            if ev.kind == _REJECTION:
                stats.rejections[cmd.intent] += 1
                continue
            if instance_id in instances and (snapshot_offset >= 0
                                             or instance_id not in touched):
                touched[instance_id] = snapshot_offset
            intent = ev.intent
            if intent not in _NOTED:
                continue
            if intent in MESSAGE_SIDE_EVENTS:
                side = side or SideChanges()
                side.note(ev)
            elif intent == _INCIDENT_CREATED:
                stats.incidents_created += 1
            elif intent == _INCIDENT_RESOLVED:
                stats.incidents_resolved += 1
            elif intent == _JOB_CREATED:
                job_type = str(ev.value["type"])
                stats.jobs[job_type] += 1
                job_topic = self._job_topics.get(job_type)
                if job_topic is None:
                    job_topic = self._job_topics[job_type] = self.topics.jobs(job_type)
                    self.ensure_topic(job_topic)
                out.append(Outgoing(job_topic, instance_id.encode(),
                                    encode_job(JobRecord.from_event(ev)), None, headers))
        stats.events += len(result.events)
        part.timers.observe(result.events)
        if result.commands:
            self.commands(result.commands)
        self._check_written(first, (topic, partition, offset))
        if side is not None:
            self._message_side.setdefault(partition, SideChanges()).update(side)
        if self.careful:
            self._check_snapshots(part, result.events, side or SideChanges(),
                                  (topic, partition, offset))
        self.offsets[(topic, partition)] = offset + 1
        return result.events

    def refuse(self, inbound: Inbound, reason: str) -> None:
        """Reject a command without processing it (`RejectionType.EXCEEDED_SIZE`); a record
        that is no command, or whose rejection is itself too large, is dead-lettered."""
        cmd = inbound.record
        if cmd is None:
            self.dead_letter(inbound, TooLarge(reason))
            return
        part = self.partitions[inbound.position[1]]
        topic, partition, offset = inbound.position
        where = f"{topic.removeprefix(self.topics.prefix)}-{partition}-{offset}"
        result = part.engine.refuse(cmd, reason, RejectionType.EXCEEDED_SIZE,
                                    delivery=where.replace(".", "_"))
        outgoing = [Outgoing(self.topics.events, (ev.instance_id or message_key(cmd)).encode(),
                             encode(ev)) for ev in result.events]
        if any(self._too_large(o) for o in outgoing):
            self.dead_letter(inbound, TooLarge(reason))
            return
        self.out.extend(outgoing)
        self.stats.commands[cmd.intent] += 1
        self.stats.rejections[cmd.intent] += len(outgoing)
        self.stats.events += len(outgoing)
        self.consumed(inbound)

    def _too_large(self, out: Outgoing) -> bool:
        return record_size(out.key, out.value, out.headers) > self.limits.record_bytes

    def _check_written(self, first: int, position: tuple[str, int, int]) -> None:
        """Raise OutputTooLarge when a record the command wrote (from `first` on) is over
        the limit."""
        commands = (self.topics.commands, self.topics.messages)
        command_limit = min(self.limits.command_bytes, self.limits.record_bytes)
        # every command's records pass here: the common case, an event well under the
        # smaller limit, costs two len() calls and no function call
        small = command_limit
        for out in self.out[first:]:
            if out.headers is None and len(out.value or b"") + len(out.key or b"") <= small:
                continue
            if out.topic in commands:
                # a follow-up command over the command limit would be refused when read, and
                # the instance waiting on it (a call activity, a message) would wait forever:
                # the command that writes it is refused instead
                size = record_size(out.key, out.value, out.headers)
                if size > command_limit:
                    raise OutputTooLarge(position, (
                        f"Expected the commands this command makes to be at most "
                        f"{command_limit} bytes, but it would make one of {size}: the "
                        f"variables it passes on are too large"))
            elif self._too_large(out):
                size = record_size(out.key, out.value, out.headers)
                raise OutputTooLarge(position, (
                    f"Expected what the command writes to fit in records of at most "
                    f"{self.limits.record_bytes} bytes, but it would write one of {size}"))

    def _check_snapshots(self, part: PartitionState, events: list[Record], side: SideChanges,
                         position: tuple[str, int, int]) -> None:
        """Raise OutputTooLarge when a snapshot the command changed is over the limit (less
        a margin for the final snapshot's stamps)."""
        limit = self.limits.record_bytes - _SNAPSHOT_MARGIN
        offset = position[2]
        checked: set[str] = set()
        for ev in events:
            if ev.kind == RecordKind.REJECTION:
                continue
            inst = part.state.instances.get(ev.instance_id)
            if inst is None or ev.instance_id in checked:
                continue
            checked.add(ev.instance_id)
            self._last_toucher[ev.instance_id] = position
            size = len(ev.instance_id.encode()) + len(
                encode_instance(inst, ev.timestamp, offset))
            if size > limit:
                raise OutputTooLarge(position, _state_too_large(size, self.limits.record_bytes))
        for out in self._side_records(part, side, events[0].timestamp if events else 0):
            self._last_toucher[part.partition] = position
            size = record_size(out.key, out.value)
            if size > limit:
                raise OutputTooLarge(position, (
                    f"Expected a buffered message or subscription to fit in a record of at "
                    f"most {self.limits.record_bytes} bytes, but it would take {size}"))

    def _side_records(self, part: PartitionState, changes: SideChanges,
                      timestamp: int) -> list[Outgoing]:
        """The `state` records of changed message-side items: a snapshot of each one there,
        a tombstone for each one gone."""
        p, state, topic = part.partition, part.state, self.topics.state
        out: list[Outgoing] = []
        for mid in sorted(changes.messages):
            msg = state.messages.get(mid)
            out.append(Outgoing(topic, buffered_message_key(p, mid).encode(), None if msg is None
                                else buffered_message_snapshot(p, msg, timestamp), partition=p))
        for sub, (name, correlation) in sorted(changes.subs.items()):
            found = state.message_subs.get((name, correlation), {}).get(sub)
            out.append(Outgoing(topic, subscription_key(p, sub).encode(), None if found is None
                                else subscription_snapshot(p, name, correlation, found,
                                                           timestamp), partition=p))
        return out

    def _snapshot(self, out: Outgoing, toucher: str | int) -> None:
        """Add a snapshot; over the limit: SnapshotTooLarge, or, when careful, OutputTooLarge
        naming the last command that touched it."""
        if self._too_large(out):
            size = record_size(out.key, out.value, out.headers)
            position = self._last_toucher.get(toucher) if self.careful else None
            if position is None:
                raise SnapshotTooLarge(_state_too_large(size, self.limits.record_bytes))
            raise OutputTooLarge(position, _state_too_large(size, self.limits.record_bytes))
        self.out.append(out)

    def commands(self, commands: list[Record]) -> None:
        """Route follow-up (or engine-made) commands to their topics."""
        for cmd in commands:
            if cmd.intent == Command.PUBLISH_MESSAGE.value and "agency" in cmd.value:
                self._across(cmd)
                continue
            if is_broadcast(cmd):
                self._broadcast(cmd, start_instances=bool(cmd.value.get("startInstances", True)))
                continue
            topic, key = self.topics.route(cmd)
            headers = self._headers
            if headers is not None and cmd.intent == Command.START_INSTANCE.value:
                # a call activity's child: its own trace, linked both ways with this one
                headers = linked_trace("laneway.engine.call_activity", cmd.instance_id,
                                       cmd.element_id) or headers
            self.out.append(Outgoing(topic, key.encode(), encode(cmd), headers=headers))

    def _across(self, cmd: Record) -> None:
        """A message to another agency's pool (laneway.agency_flows): its envelope goes to the
        topic configured for that partner, in this batch's transaction, keyed by correlation
        key. The engine core raises AGENCY_NOT_CONFIGURED at the sending element for a partner
        without a topic (it has `AgencyConfig.sendable`), so none reaches here; should one,
        it goes to the DLQ with the reason `unknown-agency` rather than nowhere."""
        agencies = self.agencies
        partner = agencies.partners.get(str(cmd.value["agency"])) if agencies else None
        key = message_key(cmd).encode()
        if agencies is None or agencies.name is None or partner is None:
            error = Refused("unknown-agency", (
                f"Expected a topic for agency '{cmd.value['agency']}' in "
                f"LANEWAY_AGENCY_PARTNERS (and LANEWAY_AGENCY_NAME), but there is none: the "
                f"message '{cmd.value.get('name')}' of instance {cmd.instance_id} is not sent"))
            self.out.append(Outgoing(self.topics.dlq, key, encode(cmd), headers=list(
                dead_letter_headers(error, self.topics.commands, -1, -1))))
            self.stats.dead_letters["unknown-agency"] += 1
            return
        self.ensure_topic(partner.send_topic)  # only looks when it exists (docs/agencies.md)
        self.out.append(Outgoing(partner.send_topic, key, encode_envelope(
            Envelope.of_command(cmd, agencies.name, self._trace))))

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
        each changed message side; then ids of instances that ended longer than the retention
        ago are forgotten."""
        state_topic = self._state_topic
        for partition, touched in self._touched.items():
            part = self.partitions[partition]
            instances = part.state.instances
            parked = instances if isinstance(instances, ParkedInstances) else None
            for instance_id, offset in touched.items():
                inst = instances[instance_id]
                key = instance_id.encode()
                # `partitions.instance_snapshot`'s bytes, written from the state directly
                snapshot = encode_instance(inst, timestamp, offset)
                self._snapshot(Outgoing(state_topic, key, snapshot), instance_id)
                if inst.status not in _ENDED:
                    if parked is not None:
                        # it waits now: kept as these bytes (~1 KiB) instead of its decoded
                        # objects (~4.5 KiB) until a command reads it again; the signal
                        # index, the timer heap and the message side are kept apart from
                        # it, by id, so they stay as the appliers left them
                        parked.park(instance_id, snapshot, inst)
                    continue
                self.out.append(Outgoing(state_topic, key, None))
                self.out.append(Outgoing(
                    state_topic, ended_key(instance_id).encode(),
                    ended_marker(instance_id, inst.status, timestamp),
                    partition=partition))
                del instances[instance_id]
                part.state.ended[instance_id] = timestamp
                part.state.unindex_signals(instance_id)
                part.timers.forget(instance_id)
        for partition, changes in sorted(self._message_side.items()):
            part = self.partitions[partition]
            if part.legacy_message_side:
                # restored from the one-record layout: every item once, that record gone
                changes.update(SideChanges(set(part.state.messages), {
                    sub: (name, correlation)
                    for (name, correlation), subs in part.state.message_subs.items()
                    for sub in subs}))
                part.legacy_message_side = False
                self.out.append(Outgoing(self.topics.state, message_side_key(partition).encode(),
                                         None, partition=partition))
            for out in self._side_records(part, changes, timestamp):
                self._snapshot(out, partition)
        for partition, part in self.partitions.items():
            self._prune_ended(partition, part, timestamp - self.ended_retention_ms)

    def _prune_ended(self, partition: int, part: PartitionState, before: int) -> None:
        """Forget (and tombstone the markers of) ended ids older than `before`, oldest first,
        at most `ended_prune_per_batch` of them."""
        ended = part.state.ended
        for _ in range(self.ended_prune_per_batch):
            oldest = next(iter(ended.items()), None)
            if oldest is None or oldest[1] >= before:
                return
            del ended[oldest[0]]
            self.out.append(Outgoing(self.topics.state, ended_key(oldest[0]).encode(), None,
                                     partition=partition))


def _parent_of(inbound: Inbound) -> Headers | None:
    """The trace context a command came with: its headers', else the `traceParent` of its
    value (what a partner agency's message brings through the bridge)."""
    headers = inbound.message.headers()
    if headers:
        return list(headers.items()) if isinstance(headers, dict) else headers
    return [("traceparent", inbound.trace)] if inbound.trace else None


_REJECTION = RecordKind.REJECTION
# event intents as plain strings: an enum member's `.value` is a descriptor call (~1 µs),
# and every event of every command is compared with these
_INCIDENT_CREATED = Event.INCIDENT_CREATED.value
_INCIDENT_RESOLVED = Event.INCIDENT_RESOLVED.value
_JOB_CREATED = Event.JOB_CREATED.value
# the intents `_process` looks at beyond writing the event (most events are none of them)
_NOTED = MESSAGE_SIDE_EVENTS | {_INCIDENT_CREATED, _INCIDENT_RESOLVED, _JOB_CREATED}


def _command_too_large(size: int, limit: int) -> str:
    return f"Expected a command record of at most {limit} bytes, but it is {size}"


def _describe(span: Span, cmd: Record, events: list[Record]) -> None:
    """The command span's attributes: what the command was and the events it wrote; a
    rejection or an incident is an event on the span and makes it an error."""
    put_attributes(span, {"laneway.intent": cmd.intent, "laneway.events.count": len(events),
                          "laneway.events.intents": tuple([ev.intent for ev in events])})
    for ev in events:
        if ev.kind == _REJECTION:
            fail(span, str(ev.value.get("reason", "")), "rejection", {
                "laneway.intent": ev.intent,
                "laneway.rejection_type": str(ev.value.get("rejectionType", ""))})
        elif ev.intent == _INCIDENT_CREATED:
            fail(span, str(ev.value.get("message", "")), "incident", {
                "laneway.element_id": ev.element_id,
                "laneway.incident_type": str(ev.value.get("errorType", ""))})


def _state_too_large(size: int, limit: int) -> str:
    return (f"Expected the instance's state to fit in a record of at most {limit} bytes, but "
            f"with this command it would take {size}: its variables are too large together")
