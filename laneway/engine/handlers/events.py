"""Events from outside an element's own work: timers falling due, messages, signals.

Messages are handled in two halves as in Zeebe: the message side (subscriptions by name and
correlation key, the buffer of published messages) and the instance side (the element that
waits). They talk through follow-up commands, so each half can live on its own partition.
"""

from __future__ import annotations

import uuid

from laneway.engine.behaviours import waits
from laneway.engine.behaviours.waits import Arrival
from laneway.engine.context import Processing
from laneway.engine.handlers._common import live_instance, storable
from laneway.model import EventKind
from laneway.records import Command, Event, RejectionType

_START_NAMESPACE = uuid.UUID("0c2b4f7e-8a55-4d4b-a3f5-7f3c9e1d2b60")


def started_instance_id(origin: str, process_id: str) -> str:
    """The id of an instance a message or signal started, derived from what started it."""
    return str(uuid.uuid5(_START_NAMESPACE, f"{origin}/{process_id}"))


def trigger_timer(ctx: Processing) -> None:
    """A timer fell due."""
    if not live_instance(ctx):
        return
    key = ctx.cmd.value.get("timerKey")
    timer = ctx.inst.timers.get(key) if isinstance(key, int) else None
    if timer is None:
        ctx.reject(f"Expected timer {key} to be scheduled, but it is not", RejectionType.NOT_FOUND)
        return
    if ctx.cmd.timestamp < timer.due:
        ctx.reject(f"Expected timer {key} to be due, but it is due at {timer.due}",
                   RejectionType.INVALID_STATE)
        return
    owner = ctx.inst.elements[timer.element_key]
    ctx.write_element(Event.TIMER_TRIGGERED, owner, {"key": timer.key, "due": timer.due,
                                                     "elementId": timer.element_id})
    waits.fire(ctx, owner, timer.element_id, Arrival(EventKind.TIMER, {}, timer_due=timer.due,
                                                     timer_fired=timer.fired + 1))


def publish_message(ctx: Processing) -> None:
    """Correlate a message to one waiting subscription per process, start the processes it
    starts, and keep it for its time to live."""
    cmd = ctx.cmd
    v = cmd.value
    name = str(v.get("name", ""))
    correlation = str(v.get("correlationKey", "") or "")
    message_id = str(v.get("messageId") or cmd.record_id)
    variables = v.get("variables") or {}
    ttl = v.get("ttl", 0)
    if not name or not isinstance(variables, dict) or not isinstance(ttl, int) or ttl < 0:
        ctx.reject("Expected a message name, variables as an object and a time to live in "
                   "milliseconds (zero or more)", RejectionType.INVALID_ARGUMENT)
        return
    if not storable(ctx, {"name": name, "correlationKey": correlation, "variables": variables},
                    "a message"):
        return
    for old in [m for m in ctx.state.messages.values() if m.expires <= cmd.timestamp]:
        ctx.write(Event.MESSAGE_EXPIRED, {"messageId": old.message_id, "name": old.name})
    if message_id in ctx.state.messages:
        ctx.reject(f"Expected a new message id, but '{message_id}' was already published",
                   RejectionType.ALREADY_EXISTS)
        return
    ctx.write(Event.MESSAGE_PUBLISHED, {
        "name": name, "correlationKey": correlation, "variables": variables,
        "messageId": message_id, "expires": cmd.timestamp + ttl})
    correlated: set[str] = set()
    for sub in list(ctx.state.message_subs.get((name, correlation), {}).values()):
        if sub.process_id in correlated:
            continue
        correlated.add(sub.process_id)
        _correlate(ctx, name, correlation, message_id, variables, sub.instance_id, sub.sub_key,
                   sub.process_id)
    for proc, node in ctx.repository.start_events(EventKind.MESSAGE, name):
        if proc.id in correlated:
            continue
        ctx.write(Event.MESSAGE_CORRELATED, {
            "messageId": message_id, "name": name, "correlationKey": correlation,
            "processId": proc.id, "startEventId": node.id})
        ctx.follow_up(Command.START_INSTANCE, started_instance_id(message_id, proc.id), {
            "processId": proc.id, "startEventId": node.id, "variables": variables})


def _correlate(
    ctx: Processing, name: str, correlation: str, message_id: str, variables: dict[str, object],
    instance_id: str, sub_key: int, process_id: str,
) -> None:
    ctx.write(Event.MESSAGE_CORRELATED, {
        "messageId": message_id, "name": name, "correlationKey": correlation,
        "instanceId": instance_id, "subKey": sub_key, "processId": process_id})
    ctx.follow_up(Command.CORRELATE_MESSAGE, instance_id, {
        "subKey": sub_key, "name": name, "messageId": message_id, "variables": variables,
        "correlationKey": correlation, "processId": process_id})


def open_subscription(ctx: Processing) -> None:
    """The message side learns of a subscription; a buffered message may match at once.

    A subscription it already holds makes this command a repeat (the same record read again):
    nothing is written, as `close_subscription` writes nothing for one it no longer holds.
    Writing the event again gave it the first one's record id, twice on `events` (found by the
    chaos run, docs/engine-service.md "Exactly once")."""
    v = ctx.cmd.value
    name, correlation = str(v["name"]), str(v["correlationKey"])
    if f"{ctx.cmd.instance_id}/{v['subKey']}" in ctx.state.message_subs.get(
            (name, correlation), {}):
        return
    ctx.write(Event.PROCESS_MESSAGE_SUBSCRIPTION_OPENED, {
        "name": name, "correlationKey": correlation, "instanceId": ctx.cmd.instance_id,
        "subKey": v["subKey"], "processId": v["processId"]})
    for msg in list(ctx.state.messages.values()):
        if (msg.name == name and msg.correlation_key == correlation
                and msg.expires > ctx.cmd.timestamp and v["processId"] not in msg.correlated):
            _correlate(ctx, name, correlation, msg.message_id, msg.variables,
                       ctx.cmd.instance_id, v["subKey"], v["processId"])
            return


def _retract(ctx: Processing) -> None:
    # The element (or the instance) ended while the message was on its way: the message side
    # takes the correlation back and offers the message to another waiting instance.
    v = ctx.cmd.value
    if v.get("processId") is not None:
        ctx.follow_up(Command.RETRACT_CORRELATION, ctx.cmd.instance_id, {
            "messageId": v.get("messageId"), "name": v.get("name"),
            "correlationKey": v.get("correlationKey"), "processId": v.get("processId")})


def retract_correlation(ctx: Processing) -> None:
    """The message side: a correlation the instance could not take is undone, and the message
    (if still buffered) goes to another subscription of the same process, if one waits."""
    v = ctx.cmd.value
    message_id = str(v.get("messageId"))
    process_id = str(v.get("processId"))
    msg = ctx.state.messages.get(message_id)
    if msg is None or process_id not in msg.correlated:
        return  # not buffered (no time to live) or already retracted: nothing to undo
    ctx.write(Event.MESSAGE_CORRELATION_RETRACTED, {
        "messageId": message_id, "name": msg.name, "correlationKey": msg.correlation_key,
        "processId": process_id})
    if msg.expires <= ctx.cmd.timestamp:
        return
    for sub in list(ctx.state.message_subs.get((msg.name, msg.correlation_key), {}).values()):
        if sub.process_id == process_id:
            _correlate(ctx, msg.name, msg.correlation_key, message_id, msg.variables,
                       sub.instance_id, sub.sub_key, process_id)
            return


def close_subscription(ctx: Processing) -> None:
    """The message side forgets a subscription (nothing to do if it already correlated)."""
    v = ctx.cmd.value
    subs = ctx.state.message_subs.get((str(v["name"]), str(v["correlationKey"])), {})
    if f"{ctx.cmd.instance_id}/{v['subKey']}" in subs:
        ctx.write(Event.PROCESS_MESSAGE_SUBSCRIPTION_CLOSED, {
            "name": v["name"], "correlationKey": v["correlationKey"],
            "instanceId": ctx.cmd.instance_id, "subKey": v["subKey"]})


def correlate_message(ctx: Processing) -> None:
    """The instance side: the waiting element receives the message."""
    v = ctx.cmd.value
    if not live_instance(ctx):
        _retract(ctx)
        return
    key = v.get("subKey")
    sub = ctx.inst.message_subs.get(key) if isinstance(key, int) else None
    if sub is None:
        ctx.reject(f"Expected message subscription {key} to be open, but it is not",
                   RejectionType.NOT_FOUND)
        _retract(ctx)
        return
    keep = waits.keeps_open(ctx, sub.element_id)
    owner = ctx.inst.elements[sub.element_key]
    ctx.write_element(Event.MESSAGE_SUBSCRIPTION_CORRELATED, owner, {
        "key": sub.key, "name": sub.name, "messageId": v.get("messageId"), "close": not keep})
    waits.fire(ctx, owner, sub.element_id,
               Arrival(EventKind.MESSAGE, dict(v.get("variables") or {})))


def broadcast_signal(ctx: Processing) -> None:
    """Send a signal to every subscription (and start the processes it starts)."""
    v = ctx.cmd.value
    name = str(v.get("name", ""))
    variables = v.get("variables") or {}
    if not name or not isinstance(variables, dict):
        ctx.reject("Expected a signal name and variables as an object",
                   RejectionType.INVALID_ARGUMENT)
        return
    ctx.write(Event.SIGNAL_BROADCAST, {"name": name, "variables": variables})
    # the throwing instance already had the signal, at the moment it threw it
    skip = v.get("skipInstance")
    for instance_id, sub_key in sorted(ctx.state.signal_subs.get(name, {}).values()):
        if instance_id == skip:
            continue
        ctx.follow_up(Command.TRIGGER_SIGNAL, instance_id, {
            "subKey": sub_key, "name": name, "variables": variables})
    if v.get("startInstances", True):
        for proc, node in ctx.repository.start_events(EventKind.SIGNAL, name):
            ctx.follow_up(Command.START_INSTANCE,
                          started_instance_id(ctx.cmd.record_id, proc.id),
                          {"processId": proc.id, "startEventId": node.id,
                           "variables": variables})


def trigger_signal(ctx: Processing) -> None:
    """The instance side of a signal."""
    if not live_instance(ctx):
        return
    key = ctx.cmd.value.get("subKey")
    sub = ctx.inst.signal_subs.get(key) if isinstance(key, int) else None
    if sub is None:
        ctx.reject(f"Expected signal subscription {key} to be open, but it is not",
                   RejectionType.NOT_FOUND)
        return
    waits.deliver_signal(ctx, sub, dict(ctx.cmd.value.get("variables") or {}))
