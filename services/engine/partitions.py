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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from laneway.codec import StateSnapshot, decode_state, encode_state
from laneway.engine import DefinitionRepository, Engine, EngineState, InstanceState
from laneway.engine.limits import DEFAULT_LIMITS, Limits
from laneway.engine.state import BufferedMessage, ProcessSubscription
from services.engine.timers import TimerSchedule

MESSAGE_SIDE_PREFIX = "__messages__/"
_MESSAGE_SIDE_PROCESS = "__messages__"
ENDED_PREFIX = "__ended__/"
_ENDED_PROCESS = "__ended__"


def message_side_key(partition: int) -> str:
    """The `state` key of a partition's message side."""
    return f"{MESSAGE_SIDE_PREFIX}{partition}"


def buffered_message_key(partition: int, message_id: str) -> str:
    """The `state` key of one buffered message of a partition's message side."""
    return f"{MESSAGE_SIDE_PREFIX}{partition}/m/{message_id}"


def subscription_key(partition: int, sub: str) -> str:
    """The `state` key of one process subscription (`<instance id>/<subscription key>`)."""
    return f"{MESSAGE_SIDE_PREFIX}{partition}/s/{sub}"


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


def build_partition(partition: int, repository: DefinitionRepository,
                    snapshots: Iterable[bytes], limits: Limits = DEFAULT_LIMITS, *,
                    partners: frozenset[str] | None = None) -> PartitionState:
    """A partition's state from the last `state` value of each key (tombstones already
    dropped): instances, the message side, the signal index and the timer heap. Its engine
    keeps no history of events: a command beyond its budget raises, and the loop's recovery
    from `state` puts its instance back (services/engine/loop.py). `partners`: the partner
    agencies it has a topic for (a message flow to another is an incident; docs/agencies.md)."""
    state = EngineState()
    timers = TimerSchedule()
    ended: list[tuple[int, str]] = []
    legacy = False
    for data in snapshots:
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
        state.instances[inst.instance_id] = inst
        state.index_signals(inst)
        timers.add_instance(inst)
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
    """An instance's `state` value."""
    return encode_state(StateSnapshot.of(inst, timestamp, command_offset))


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
