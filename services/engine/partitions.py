"""What a replica keeps for each partition it owns, and how it is written to and read from the
`state` topic.

Partition *p* of `commands` and `messages` is processed against one `EngineState`: the
instances whose ids hash to *p*, and the message side (subscriptions by name and correlation
key, buffered messages) of the correlation keys that hash to *p*. On `state` each instance is a
`StateSnapshot` keyed by its id; the message side of *p* is one snapshot keyed
`__messages__/<p>` (written to partition *p* explicitly, since its key need not hash there).
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


def message_side_key(partition: int) -> str:
    """The `state` key of a partition's message side."""
    return f"{MESSAGE_SIDE_PREFIX}{partition}"


@dataclass(slots=True)
class PartitionState:
    """The engine, its state and its timers for one owned partition."""

    partition: int
    engine: Engine
    timers: TimerSchedule = field(default_factory=TimerSchedule)

    @property
    def state(self) -> EngineState:
        """The partition's engine state."""
        return self.engine.state


def build_partition(partition: int, repository: DefinitionRepository,
                    snapshots: Iterable[bytes], limits: Limits = DEFAULT_LIMITS) -> PartitionState:
    """A partition's state from the last `state` value of each key (tombstones already
    dropped): instances, the message side, the signal index and the timer heap. Its engine
    keeps no history of events: a command beyond its budget raises, and the loop's recovery
    from `state` puts its instance back (services/engine/loop.py)."""
    state = EngineState()
    timers = TimerSchedule()
    for data in snapshots:
        snap = decode_state(data)
        if snap.instance_id.startswith(MESSAGE_SIDE_PREFIX):
            load_message_side(state, snap.state)
            continue
        inst = snap.instance()
        state.instances[inst.instance_id] = inst
        index_signals(state, inst)
        timers.add_instance(inst)
    return PartitionState(partition, Engine(repository, state, limits=limits, history=False),
                          timers)


def index_signals(state: EngineState, inst: InstanceState) -> None:
    """Add an instance's signal subscriptions to the partition's signal index (the index is
    derived: the appliers keep it while running, a restore recomputes it)."""
    for sub in inst.signal_subs.values():
        state.signal_subs.setdefault(sub.name, {})[f"{inst.instance_id}/{sub.key}"] = (
            inst.instance_id, sub.key)


def unindex_signals(state: EngineState, instance_id: str) -> None:
    """Drop an ended instance from the signal index (normally already empty for it)."""
    prefix = f"{instance_id}/"
    for name in list(state.signal_subs):
        subs = state.signal_subs[name]
        for k in [k for k in subs if k.startswith(prefix)]:
            del subs[k]
        if not subs:
            del state.signal_subs[name]


def instance_snapshot(inst: InstanceState, timestamp: int, command_offset: int) -> bytes:
    """An instance's `state` value."""
    return encode_state(StateSnapshot.of(inst, timestamp, command_offset))


def message_side_snapshot(partition: int, state: EngineState, timestamp: int) -> bytes:
    """A partition's message side as a `state` value: a StateSnapshot whose `state` holds the
    subscriptions and buffered messages (no codec change needed)."""
    return encode_state(StateSnapshot(
        message_side_key(partition), _MESSAGE_SIDE_PROCESS, 0, "ACTIVE", timestamp,
        message_side_dict(state)))


def message_side_dict(state: EngineState) -> dict[str, Any]:
    """The message side in a JSON-like form (Avro maps need string keys, so the
    (name, correlation key) index becomes a list)."""
    return {
        "subscriptions": [
            {"name": name, "correlationKey": key, "subs": {
                k: {"instanceId": s.instance_id, "subKey": s.sub_key,
                    "processId": s.process_id}
                for k, s in subs.items()}}
            for (name, key), subs in state.message_subs.items()
        ],
        "messages": {
            mid: {"name": m.name, "correlationKey": m.correlation_key,
                  "variables": m.variables, "messageId": m.message_id, "expires": m.expires,
                  "correlated": list(m.correlated)}
            for mid, m in state.messages.items()
        },
    }


def load_message_side(state: EngineState, data: Mapping[str, Any]) -> None:
    """Inverse of `message_side_dict`, into `state`."""
    state.message_subs = {
        (entry["name"], entry["correlationKey"]): {
            k: ProcessSubscription(s["instanceId"], s["subKey"], s["processId"])
            for k, s in entry["subs"].items()}
        for entry in data.get("subscriptions", [])
    }
    state.messages = {
        mid: BufferedMessage(m["name"], m["correlationKey"], dict(m["variables"]),
                             m["messageId"], m["expires"], list(m["correlated"]))
        for mid, m in data.get("messages", {}).items()
    }
