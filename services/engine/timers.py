"""The due-time heap of one partition: which TRIGGER_TIMER commands to write, and when.

Timers are instance state (`InstanceState.timers`, absolute due times); this heap is only an
index over them, rebuilt on every restore, so a restart or rebalance loses none. Entries are
checked against the instance when they come up (lazy deletion): a timer that was triggered or
cancelled meanwhile is just dropped.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import cast

from laneway.engine.state import InstanceState, InstanceStatus
from laneway.records import Command, Event, Record, RecordKind, command
from laneway.records.values import KeyOnly, TimerCreated

_TIMER_GONE = frozenset({Event.TIMER_TRIGGERED.value, Event.TIMER_CANCELED.value})
# as plain values: `observe` looks at every event of every command, and an enum member's
# `.value` is a descriptor call
_TIMER_CREATED = Event.TIMER_CREATED.value
_TIMER_EVENTS = _TIMER_GONE | {_TIMER_CREATED}
_EVENT = RecordKind.EVENT


class TimerSchedule:
    """Due timers of the instances of one partition."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, str, int]] = []
        # (instance, timer key) -> due of triggers committed whose timer the instance still
        # holds: not again
        self._sent: dict[tuple[str, int], int] = {}

    def add(self, due: int, instance_id: str, key: int) -> None:
        """Schedule a timer (from a TIMER_CREATED event or a restored instance)."""
        heapq.heappush(self._heap, (due, instance_id, key))

    def add_instance(self, inst: InstanceState) -> None:
        """Schedule every timer of a restored instance."""
        for timer in inst.timers.values():
            self.add(timer.due, inst.instance_id, timer.key)

    def observe(self, events: list[Record]) -> None:
        """Follow what a batch wrote: new timers join the heap; a timer that fired or was
        cancelled leaves the sent set (its heap entry goes lazily)."""
        for ev in events:
            if ev.intent not in _TIMER_EVENTS or ev.kind != _EVENT:
                continue
            if ev.intent == _TIMER_CREATED:
                timer = cast(TimerCreated, ev.value)
                self.add(int(timer["due"]), ev.instance_id, int(timer["key"]))
            elif ev.intent in _TIMER_GONE:
                self._sent.pop((ev.instance_id, int(cast(KeyOnly, ev.value)["key"])), None)

    def forget(self, instance_id: str) -> None:
        """An instance ended: its triggers in flight are moot."""
        for sent in [s for s in self._sent if s[0] == instance_id]:
            del self._sent[sent]

    def next_due(self) -> int | None:
        """The earliest due time in the heap (maybe of a timer that is gone), or None."""
        return self._heap[0][0] if self._heap else None

    def due(self, now_ms: int, instances: Mapping[str, InstanceState]) -> list[Record]:
        """TRIGGER_TIMER commands for every live timer due by `now_ms` not yet triggered.

        Their entries leave the heap; they count as sent once `sent` is called after their
        transaction committed. When the transaction is aborted the loop rebuilds the whole
        schedule from the restored instances, so nothing popped here is lost.
        """
        out: list[Record] = []
        while self._heap and self._heap[0][0] <= now_ms:
            due, instance_id, key = heapq.heappop(self._heap)
            inst = instances.get(instance_id)
            timer = inst.timers.get(key) if inst is not None else None
            if (inst is None or timer is None or timer.due != due
                    or inst.status != InstanceStatus.ACTIVE):
                continue
            if self._sent.get((instance_id, key)) == due:
                continue
            out.append(trigger_command(instance_id, key, due, now_ms))
        return out

    def sent(self, triggers: list[Record]) -> None:
        """The triggers' transaction committed: remember them until their timers go."""
        for cmd in triggers:
            due = int(cmd.record_id.rsplit("/", 1)[1])
            self._sent[(cmd.instance_id, int(cmd.value["timerKey"]))] = due

    def __len__(self) -> int:
        return len(self._heap)


def trigger_command(instance_id: str, key: int, due: int, now_ms: int) -> Record:
    """The TRIGGER_TIMER command for one firing. Its id is derived from the firing, so a
    trigger written twice (after a restore) is recognisably the same; its time is the wall
    clock, never earlier than the due time (the engine refuses early triggers)."""
    return command(Command.TRIGGER_TIMER, instance_id, {"timerKey": key},
                   record_id=f"timer/{instance_id}/{key}/{due}", timestamp=max(now_ms, due))
