"""What a replica keeps for each partition it owns, and how it is written to and read from the
`state` topic.

Partition *p* of `commands` and `messages` is processed against one `EngineState`: the
instances whose ids hash to *p*, and the message side (subscriptions by name and correlation
key, buffered messages) of the correlation keys that hash to *p*. On `state` each instance is a
`StateSnapshot` keyed by its id. The message side of *p* is one snapshot per item, each
written to partition *p* explicitly (its key need not hash there): a buffered message keyed
`__messages__/<p>/m/<message id>`, a process subscription `__messages__/<p>/s/<instance
id>/<subscription key>`, each tombstoned when it goes. One record for the whole side (the
layout before, `__messages__/<p>`, still read and replaced by items at the next change) grew
with every message buffered for its time to live until it was over Kafka's record limit, and
was written again whole on every change.
An instance that ended leaves a small marker keyed `__ended__/<instance id>` on its partition
(its snapshot key gets a tombstone), so a restored replica still refuses to start that id
again; the marker gets its own tombstone once the retention time has passed.

A restore keeps each instance as the bytes of its snapshot (`ParkedInstances`) and decodes
it only when something reads it: most instances of a partition wait (on a person, a message,
a timer) and no command touches them for a long time, while decoding every one took ~90 % of
a restore and its object graph ~4 KiB of memory against ~0.5 KiB of bytes. What has to be
known of every instance at once is indexed without decoding them: the message side has its
own records; the signal index and the timer heap need an instance's `signal_subs` and
`timers`, which are read off the bytes (`_may_hold` says whether they may be non-empty,
`_entry` reads just that entry); a snapshot where that is not sure is decoded
whole. A running engine does the same after each batch (`BatchWriter.finish`): a touched
instance that still waits goes back to the snapshot bytes the batch wrote for it, and is
decoded again when the next command reads it; the indexes are kept by the appliers, by id,
apart from the instance, so they stay as they are.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, overload

from laneway.codec import StateSnapshot, decode_state, default_codec, encode_state
from laneway.codec.typed import STATE, encode_instance
from laneway.engine import DefinitionRepository, Engine, EngineState, InstanceState
from laneway.engine.limits import DEFAULT_LIMITS, Limits
from laneway.engine.state import BufferedMessage, ProcessSubscription
from services.engine.timers import TimerSchedule

MESSAGE_SIDE_PREFIX = "__messages__/"
_MESSAGE_SIDE_PROCESS = "__messages__"
ENDED_PREFIX = "__ended__/"
_ENDED_PROCESS = "__ended__"
# keys on `state` that are no instance
_NOT_INSTANCES = (MESSAGE_SIDE_PREFIX, ENDED_PREFIX)


def message_side_key(partition: int) -> str:
    """The `state` key of a partition's message side."""
    return f"{MESSAGE_SIDE_PREFIX}{partition}"


def buffered_message_key(partition: int, message_id: str) -> str:
    """The `state` key of one buffered message of a partition's message side."""
    return f"{MESSAGE_SIDE_PREFIX}{partition}/m/{message_id}"


def subscription_key(partition: int, sub: str) -> str:
    """The `state` key of one process subscription (`<instance id>/<subscription key>`)."""
    return f"{MESSAGE_SIDE_PREFIX}{partition}/s/{sub}"


WARM_INSTANCES = 1000
"""How many recently parked instances keep their decoded object as well (`ParkedInstances`;
`LANEWAY_ENGINE_WARM_INSTANCES`): about 4.5 KiB each, so ~4.5 MiB per partition at most."""


@dataclass(slots=True)
class PartitionState:
    """The engine, its state and its timers for one owned partition."""

    partition: int
    engine: Engine
    timers: TimerSchedule = field(default_factory=TimerSchedule)
    legacy_message_side: bool = False
    """The message side was restored from the one-record layout (`__messages__/<p>`): the
    next batch that changes it writes every item and tombstones that record."""

    @property
    def state(self) -> EngineState:
        """The partition's engine state."""
        return self.engine.state


class ParkedInstances(MutableMapping[str, InstanceState]):
    """`EngineState.instances` of every partition of the engine service (restored or built
    empty): an instance is kept as its snapshot's bytes (`park`: by the restore, and by
    `BatchWriter.finish` after each batch for every touched instance that still waits) until
    something reads it, then decoded once and kept as the object the engine changes in place
    for the rest of that batch (so a change is never lost to a stale copy). Membership,
    length, iteration over ids and deletion never decode; reading a value (`[]`, `get`, `pop`,
    `values`, `items`) decodes that instance.

    The last `warm` instances a batch parked also keep their decoded object (`park(...,
    inst)`) until that many more are parked: a command that comes back soon (a job's
    completion, tens of milliseconds later) takes it instead of decoding the bytes again
    (~0.1 ms, a tenth of the engine's CPU for an instance through one service task). It is
    the object the bytes were just written from and nothing changes it while parked, so it
    is what decoding them would give, as it was before instances were parked at all."""

    __slots__ = ("_decode", "_items", "_warm", "_warm_limit")

    def __init__(self, decode: Callable[[bytes], InstanceState],
                 items: dict[str, InstanceState | bytes] | None = None,
                 warm: int = WARM_INSTANCES) -> None:
        # an instance id -> its decoded state, or the bytes of its snapshot while parked
        # (`items` is taken as it is, not copied)
        self._items: dict[str, InstanceState | bytes] = {} if items is None else items
        self._decode = decode
        # parked instance id -> its decoded object, the most recently parked last; an id is
        # here only while `_items` holds the bytes written from that object
        self._warm: dict[str, InstanceState] = {}
        self._warm_limit = warm

    def park(self, instance_id: str, snapshot: bytes,
             inst: InstanceState | None = None) -> None:
        """Keep an instance as the bytes of its snapshot (decoded when first read); `inst`,
        the object they were written from, is kept too while it is among the last `warm`
        parked."""
        self._items[instance_id] = snapshot
        warm = self._warm
        warm.pop(instance_id, None)  # never an older object next to newer bytes
        if inst is not None and self._warm_limit > 0:
            warm[instance_id] = inst
            if len(warm) > self._warm_limit:
                del warm[next(iter(warm))]

    def warm(self) -> int:
        """How many parked instances keep their decoded object too."""
        return len(self._warm)

    def _unpark(self, instance_id: str, snapshot: bytes) -> InstanceState:
        inst = self._warm.pop(instance_id, None)
        if inst is None:
            inst = self._decode(snapshot)
        self._items[instance_id] = inst
        return inst

    def parked(self) -> int:
        """How many instances are kept as bytes (not read since the restore or their last
        batch)."""
        return sum(1 for v in self._items.values() if type(v) is bytes)

    def is_parked(self, instance_id: str) -> bool:
        """Whether an instance is still kept as bytes."""
        return type(self._items.get(instance_id)) is bytes

    def __getitem__(self, instance_id: str) -> InstanceState:
        value = self._items[instance_id]
        if type(value) is bytes:
            value = self._unpark(instance_id, value)
        assert isinstance(value, InstanceState)
        return value

    @overload
    def get(self, instance_id: str, /) -> InstanceState | None: ...
    @overload
    def get(self, instance_id: str, default: InstanceState, /) -> InstanceState: ...
    @overload
    def get(self, instance_id: str, default: Any, /) -> Any: ...

    def get(self, instance_id: str, default: Any = None, /) -> Any:
        # the engine's most frequent call: one dict look-up when decoded already
        value = self._items.get(instance_id)
        if value is None:
            return default
        if type(value) is bytes:
            value = self._unpark(instance_id, value)
        return value

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._items

    def __setitem__(self, instance_id: str, inst: InstanceState) -> None:
        self._items[instance_id] = inst
        if self._warm:
            self._warm.pop(instance_id, None)

    def __delitem__(self, instance_id: str) -> None:
        del self._items[instance_id]
        if self._warm:
            self._warm.pop(instance_id, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return (f"ParkedInstances({len(self._items)} instances, {self.parked()} parked, "
                f"{len(self._warm)} of them warm)")


def _decode_instance(snapshot: bytes) -> InstanceState:
    return decode_state(snapshot).instance()


# The bytes of `"timers": {}` and `"signal_subs": {}` as a top-level entry of a snapshot's
# `state` map (Avro: the key as a zigzag length and UTF-8; the Value's union branch 6, a map,
# as zigzag 12; an empty map as a block count of 0).
_TIMERS = b"\x0ctimers"
_SIGNALS = b"\x16signal_subs"
_EMPTY_MAP = b"\x0c\x00"
_EMPTY_TIMERS = _TIMERS + _EMPTY_MAP
_EMPTY_SIGNALS = _SIGNALS + _EMPTY_MAP


def _may_hold(snapshot: bytes, key: bytes) -> bool:
    """False only when the snapshot's top-level entry `key` (`timers`, `signal_subs`) is surely
    empty: the key's bytes occur, and every occurrence is followed by an empty map. The real
    entry is one of those occurrences (`InstanceState.to_dict` writes both keys always), so
    bytes that only look like it (inside a variable) can make this say True needlessly, never
    False wrongly. Runs in C (`bytes.find`): no decoding."""
    at = snapshot.find(key)
    if at < 0:
        return True  # a layout that does not write the entry: decode to be sure
    # bounded: each round moves past one occurrence of the key in the snapshot
    while at >= 0:
        after = at + len(key)
        if not snapshot.startswith(_EMPTY_MAP, after):
            return True
        at = snapshot.find(key, after)
    return False


def _instance_id(snapshot: bytes, header: bytes) -> str | None:
    """The instance id of a snapshot written with the current state schema, read from its
    bytes (the record's first field, after the header); None for any other writer schema,
    which is decoded whole instead."""
    if not snapshot.startswith(header):
        return None
    try:
        return _string(snapshot, len(header))[0]
    except (_NotAValue, UnicodeDecodeError):
        return None


@dataclass(slots=True)
class _Sorted:
    """The restore's pass over the snapshots: the instances to keep as bytes (by id), what
    they add to the timer heap and the signal index, and the snapshots to decode whole."""

    parked: dict[str, InstanceState | bytes] = field(default_factory=dict)
    timers: list[tuple[int, str, int]] = field(default_factory=list)
    signals: list[tuple[str, str, int]] = field(default_factory=list)
    rest: list[bytes] = field(default_factory=list)


class _NotAValue(ValueError):
    """Bytes the small reader below does not take as a Value: the snapshot is decoded whole."""


_MAX_DEPTH = 16  # timers and signal subscriptions are two levels deep; deeper is no entry


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """An Avro long (zigzag varint of at most 10 bytes) at `pos`; it and the position after."""
    value = 0
    shift = 0
    for i in range(pos, min(pos + 10, len(data))):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1), i + 1
    raise _NotAValue("a long runs past its 10 bytes or the record")


def _value(data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    """The plain value of one `Value` (schemas/value.avsc) at `pos`, and the position after
    it. Only used on the small `timers` and `signal_subs` entries: fastavro's reader costs
    ~60 µs per call on this recursive named type, this ~10 µs for a timer."""
    if depth > _MAX_DEPTH:
        raise _NotAValue("nested too deeply")
    branch, pos = _long(data, pos)
    if branch == 0:
        return None, pos
    if branch == 1:
        return data[pos] == 1, pos + 1
    if branch == 2:
        return _long(data, pos)
    if branch == 3:
        return struct.unpack_from("<d", data, pos)[0], pos + 8
    if branch == 4:
        return _string(data, pos)
    if branch not in (5, 6):
        raise _NotAValue(f"no Value branch {branch}")
    items: list[Any] = []
    entries: dict[str, Any] = {}
    # bounded: every block and item moves `pos` forward within the record
    while True:
        count, pos = _long(data, pos)
        if count == 0:
            return (items if branch == 5 else entries), pos
        if count < 0:  # a block that also gives its size in bytes
            count = -count
            _size, pos = _long(data, pos)
        if count > len(data) - pos:
            raise _NotAValue("more items than bytes left")
        for _ in range(count):
            if branch == 5:
                item, pos = _value(data, pos, depth + 1)
                items.append(item)
            else:
                name, pos = _string(data, pos)
                entries[name], pos = _value(data, pos, depth + 1)


def _string(data: bytes, pos: int) -> tuple[str, int]:
    """An Avro string (a long length, then UTF-8) at `pos`; it and the position after."""
    size, pos = _long(data, pos)
    if size < 0 or pos + size > len(data):
        raise _NotAValue("a string runs past the record")
    return data[pos:pos + size].decode(), pos + size


def _entry(snapshot: bytes, key: bytes) -> dict[str, Any] | None:
    """The value of a snapshot's top-level entry `key` (a map), read from where the key's
    bytes are when they occur exactly once (then that place is the entry); None when that is
    not sure or the value is not a map (the caller decodes the whole snapshot)."""
    if snapshot.count(key) != 1:
        return None
    try:
        value, _ = _value(snapshot, snapshot.find(key) + len(key), 0)
    except (_NotAValue, IndexError, UnicodeDecodeError, struct.error):
        return None
    return value if isinstance(value, dict) else None


def _indexed(entries: dict[str, Any], name: str) -> list[tuple[Any, int]] | None:
    """(the field `name`, the key) of each record of a `timers` or `signal_subs` entry, or
    None when one does not have them as the state writes them."""
    out: list[tuple[Any, int]] = []
    for record in entries.values():
        if not isinstance(record, dict):
            return None
        value, key = record.get(name), record.get("key")
        if type(key) is not int or value is None:
            return None
        out.append((value, key))
    return out


def _sort(snapshots: Iterable[bytes], header: bytes) -> _Sorted:
    """Which snapshots are kept as bytes, what they index, which are decoded whole. The
    restore's only per-record work, so the common case (an id under 64 bytes, no timers, no
    signal subscriptions, each of those keys once) is a few calls into C."""
    out = _Sorted()
    at = len(header)
    for data in snapshots:
        size = data[at] if len(data) > at else 0x80
        if (size < 0x80 and not size & 1 and len(data) > at + 1 + (size >> 1)
                and data.startswith(header)
                and data.count(_TIMERS) == 1 and _EMPTY_TIMERS in data
                and data.count(_SIGNALS) == 1 and _EMPTY_SIGNALS in data):
            instance_id = data[at + 1:at + 1 + (size >> 1)].decode()
            if instance_id.startswith(_NOT_INSTANCES):
                out.rest.append(data)
            else:
                out.parked[instance_id] = data
            continue
        found = _instance_id(data, header)
        if found is None or found.startswith(_NOT_INSTANCES):
            out.rest.append(data)
            continue
        timers: list[tuple[Any, int]] | None = []
        signals: list[tuple[Any, int]] | None = []
        if _may_hold(data, _TIMERS):
            entry = _entry(data, _TIMERS)
            timers = None if entry is None else _indexed(entry, "due")
        if _may_hold(data, _SIGNALS):
            entry = _entry(data, _SIGNALS)
            signals = None if entry is None else _indexed(entry, "name")
        if (timers is None or signals is None
                or any(type(due) is not int for due, _ in timers)
                or any(type(name) is not str for name, _ in signals)):
            out.rest.append(data)
            continue
        out.parked[found] = data
        out.timers += [(due, found, key) for due, key in timers]
        out.signals += [(name, found, key) for name, key in signals]
    return out


def build_partition(partition: int, repository: DefinitionRepository,
                    snapshots: Iterable[bytes], limits: Limits = DEFAULT_LIMITS, *,
                    partners: frozenset[str] | None = None,
                    warm: int = WARM_INSTANCES) -> PartitionState:
    """A partition's state from the last `state` value of each key (tombstones already
    dropped): instances, the message side, the signal index and the timer heap. Its engine
    keeps no history of events: a command beyond its budget raises, and the loop's recovery
    from `state` puts its instance back (services/engine/loop.py). `partners`: the partner
    agencies it has a topic for (a message flow to another is an incident; docs/agencies.md).
    `warm`: how many recently parked instances keep their decoded object (`ParkedInstances`)."""
    # instances kept as bytes, their timers and signal subscriptions read off the bytes
    done = _sort(snapshots, default_codec().current(STATE).header)
    instances = ParkedInstances(_decode_instance, done.parked, warm)
    state = EngineState(instances=instances)
    timers = TimerSchedule()
    for due, instance_id, key in done.timers:
        timers.add(due, instance_id, key)
    for name, instance_id, key in done.signals:
        state.index_signal(name, instance_id, key)
    ended: list[tuple[int, str]] = []
    legacy = False
    for data in done.rest:
        snap = decode_state(data)
        if snap.instance_id.startswith(MESSAGE_SIDE_PREFIX):
            item = snap.instance_id[len(MESSAGE_SIDE_PREFIX):].partition("/")[2]
            if item.startswith("m/"):
                load_buffered_message(state, snap.state["message"])
            elif item.startswith("s/"):
                load_subscription(state, snap.state["subscription"])
            else:
                load_message_side(state, snap.state)
                legacy = True
            continue
        if snap.instance_id.startswith(ENDED_PREFIX):
            ended.append((snap.timestamp, snap.instance_id.removeprefix(ENDED_PREFIX)))
            continue
        inst = snap.instance()
        state.index_signals(inst)
        timers.add_instance(inst)
        # indexed; the object is dropped and decoded again when a command reads it
        instances.park(inst.instance_id, data)
    # oldest first, as they ended: pruning takes them from the front
    state.ended = {iid: when for when, iid in sorted(ended)}
    return PartitionState(partition, Engine(repository, state, limits=limits, history=False,
                                             partners=partners),
                          timers, legacy)


def ended_key(instance_id: str) -> str:
    """The `state` key of an ended instance's marker."""
    return f"{ENDED_PREFIX}{instance_id}"


def ended_marker(instance_id: str, status: str, timestamp: int) -> bytes:
    """An ended instance's marker: a StateSnapshot with no state (no codec change needed),
    whose timestamp is when the instance ended."""
    return encode_state(StateSnapshot(ended_key(instance_id), _ENDED_PROCESS, 0, status,
                                      timestamp, {}))


def instance_snapshot(inst: InstanceState, timestamp: int, command_offset: int) -> bytes:
    """An instance's `state` value (the same bytes as `StateSnapshot.of`'s, written straight
    from the instance)."""
    return encode_instance(inst, timestamp, command_offset)


def buffered_message_snapshot(partition: int, msg: BufferedMessage, timestamp: int) -> bytes:
    """One buffered message as a `state` value: a StateSnapshot whose `state` holds it (no
    codec change needed)."""
    return encode_state(StateSnapshot(
        buffered_message_key(partition, msg.message_id), _MESSAGE_SIDE_PROCESS, 0, "ACTIVE",
        timestamp, {"message": _message_dict(msg)}))


def subscription_snapshot(partition: int, name: str, correlation_key: str,
                          sub: ProcessSubscription, timestamp: int) -> bytes:
    """One process subscription as a `state` value."""
    return encode_state(StateSnapshot(
        subscription_key(partition, f"{sub.instance_id}/{sub.sub_key}"), _MESSAGE_SIDE_PROCESS,
        0, "ACTIVE", timestamp, {"subscription": {
            "name": name, "correlationKey": correlation_key, "instanceId": sub.instance_id,
            "subKey": sub.sub_key, "processId": sub.process_id}}))


def load_buffered_message(state: EngineState, m: Mapping[str, Any]) -> None:
    """Inverse of `buffered_message_snapshot`'s `message`, into `state`."""
    state.messages[m["messageId"]] = BufferedMessage(
        m["name"], m["correlationKey"], dict(m["variables"]), m["messageId"], m["expires"],
        list(m["correlated"]))


def load_subscription(state: EngineState, s: Mapping[str, Any]) -> None:
    """Inverse of `subscription_snapshot`'s `subscription`, into `state`."""
    state.message_subs.setdefault((s["name"], s["correlationKey"]), {})[
        f"{s['instanceId']}/{s['subKey']}"] = ProcessSubscription(
            s["instanceId"], s["subKey"], s["processId"])


def _message_dict(m: BufferedMessage) -> dict[str, Any]:
    return {"name": m.name, "correlationKey": m.correlation_key, "variables": m.variables,
            "messageId": m.message_id, "expires": m.expires, "correlated": list(m.correlated)}


def message_side_dict(state: EngineState) -> dict[str, Any]:
    """The message side in the one-record layout of before (`load_message_side` still reads
    it), in a JSON-like form (Avro maps need string keys, so the (name, correlation key) index
    becomes a list)."""
    return {
        "subscriptions": [
            {"name": name, "correlationKey": key, "subs": {
                k: {"instanceId": s.instance_id, "subKey": s.sub_key,
                    "processId": s.process_id}
                for k, s in subs.items()}}
            for (name, key), subs in state.message_subs.items()
        ],
        "messages": {mid: _message_dict(m) for mid, m in state.messages.items()},
    }


def load_message_side(state: EngineState, data: Mapping[str, Any]) -> None:
    """Inverse of `message_side_dict`, into `state`."""
    state.message_subs = {
        (entry["name"], entry["correlationKey"]): {
            k: ProcessSubscription(s["instanceId"], s["subKey"], s["processId"])
            for k, s in entry["subs"].items()}
        for entry in data.get("subscriptions", [])
    }
    state.messages = {}
    for m in data.get("messages", {}).values():
        load_buffered_message(state, m)
