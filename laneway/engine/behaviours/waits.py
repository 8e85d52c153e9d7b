"""What elements wait on: timers, message and signal subscriptions; and delivering an event
that arrived to the processor that handles it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import isodate

from laneway.engine.behaviours import conditions, timer_templates, work
from laneway.engine.behaviours import variables as vars_
from laneway.engine.context import Processing
from laneway.engine.expressions import evaluate
from laneway.engine.state import ElementInstance, Subscription
from laneway.expr import ExpressionError, compile_expression, variable_names
from laneway.model import EventKind, FlowNode, TimerDefinition
from laneway.records import Command, Event, IncidentType
from laneway.timers import TimerError, parse_timer

_WAITABLE = frozenset(
    {EventKind.TIMER, EventKind.MESSAGE, EventKind.SIGNAL, EventKind.CONDITIONAL})


@dataclass(frozen=True, slots=True)
class Arrival:
    """An event that reached a catch: what kind, its variables, and for a timer when it was due
    and how often it has fired (a cycle schedules its next due time from them)."""

    kind: EventKind
    payload: dict[str, Any] = field(default_factory=dict)
    timer_due: int | None = None
    timer_fired: int = 0

    @property
    def waited(self) -> bool:
        """It came through a wait (timer, message, signal), not thrown (error, escalation)."""
        return self.kind in _WAITABLE


def open_boundaries(ctx: Processing, elem: ElementInstance, node: FlowNode) -> None:
    """Subscribe to the timer, message and signal boundary events of an activity."""
    for boundary in ctx.proc.boundaries.get(node.id, ()):
        if boundary.event_kind in _WAITABLE:
            open_wait(ctx, elem, boundary)


def open_event_subprocesses(ctx: Processing, scope: ElementInstance, scope_id: str) -> None:
    """Subscribe to the timer, message and signal starts of a scope's event subprocesses."""
    for esp in ctx.proc.event_subprocesses.get(scope_id, ()):
        start = ctx.proc.esp_starts.get(esp.id)
        if start is not None and start.event_kind in _WAITABLE:
            open_wait(ctx, scope, start)


def open_wait(ctx: Processing, owner: ElementInstance, catch: FlowNode) -> bool:
    """Make `owner` wait on the event definition of `catch` (itself, a boundary event, an event
    subprocess start, or an event-based gateway's target). False if an incident was raised."""
    conditional = False
    # every definition of a multiple event waits (BPMN 10.5.6); most events have one
    for ed in catch.event_definitions:
        if ed.kind == EventKind.TIMER:
            if not open_timer(ctx, owner, catch):
                return False
        elif ed.kind == EventKind.MESSAGE:
            if not open_message(ctx, owner, catch, ed.ref):
                return False
        elif ed.kind == EventKind.CONDITIONAL:
            if not conditional:
                conditions.open_wait(ctx, owner, catch.id)
            conditional = True
        elif ed.kind == EventKind.SIGNAL:
            key = ctx.new_key()
            ctx.write_element(Event.SIGNAL_SUBSCRIPTION_CREATED, owner, {
                "key": key, "name": ctx.proc.signal_name(ed.ref), "elementId": catch.id})
    return True


def open_timer(
    ctx: Processing, owner: ElementInstance, catch: FlowNode, fired: int = 0,
    previous_due: int | None = None,
) -> bool:
    """Schedule the timer of `catch`; the due time counts from the command's timestamp."""
    # its timer definition (one of several on a multiple event: deploy allows one timer)
    ed = next(d for d in catch.event_definitions if d.kind == EventKind.TIMER)
    timer = ed.timer
    assert timer is not None
    try:
        text = timer.expression.text
        if (timer.expression.language or "") == "feel":
            text = _timer_text(evaluate(timer.expression, vars_.visible(ctx.inst, owner.key)))
        elif timer_templates.is_template(text):
            # `PT${secs}S`: each embedded expression's value in its place
            text = timer_templates.substitute(text, vars_.visible(ctx.inst, owner.key),
                                              _timer_text)
        try:
            schedule = parse_timer(timer.kind, text, ctx.limits.timers)
        except TimerError as literal_error:
            # not a literal timer: an expression that gives one (Spiff writes "PT1S" quoted,
            # Camunda 7 writes ${duration}); the literal's own error is the clearer one to show
            # if the expression does not give a timer either
            try:
                value = evaluate(timer.expression, vars_.visible(ctx.inst, owner.key))
            except ExpressionError:
                raise literal_error from None
            if value is None:
                raise literal_error from None
            text = _timer_text(value)
            schedule = parse_timer(timer.kind, text, ctx.limits.timers)
        now = ctx.cmd.timestamp
        due = (schedule.first_due(now) if previous_due is None
               else schedule.next_due(previous_due, fired))
    except (ExpressionError, TimerError) as exc:
        work.raise_incident(ctx, owner, IncidentType.TIMER_ERROR,
                            f"Expected a valid timer on '{catch.id}', but {exc}")
        return False
    if due is None:
        return True
    key = ctx.new_key()
    ctx.write_element(Event.TIMER_CREATED, owner, {
        "key": key, "due": due, "elementId": catch.id, "repetitions": schedule.repetitions,
        "fired": fired, "expression": text, "timerKind": timer.kind.value})
    return True


# what a timer written as a value looks like: a duration, a repeating interval, an RRULE, a
# cron macro, a date (a cron expression is told by its fields). Anything else may be an
# expression that gives a timer at run time.
_LITERAL_TIMER = re.compile(r"^(P|R\d*/|RRULE:|DTSTART|@|\d{4}-\d\d)", re.IGNORECASE)
_CRON_FIELD = re.compile(r"^[0-9*/,?#LW-]+$|^[A-Za-z]{3}(-[A-Za-z]{3})?$")


def timer_problem(timer: TimerDefinition) -> str | None:
    """Why a timer written in the diagram can never be scheduled, or None when it can (or
    depends on variables, and is checked when the timer is created). Checked at deploy: a
    literal `P9999999Y`, `0 0 30 2 *` or `R/PT0.0001S` is the diagram's mistake, and would
    otherwise be an incident in every instance that reaches it."""
    text = timer.expression.text.strip()
    if (timer.expression.language or "") != "feel" and timer_templates.is_template(text):
        return timer_templates.template_problem(timer.kind, text, _timer_text)
    if (timer.expression.language or "") != "feel":
        try:
            parse_timer(timer.kind, text)
            return None
        except TimerError as exc:
            fields = text.split()
            if _LITERAL_TIMER.match(text) or (
                    len(fields) in (5, 6) and all(_CRON_FIELD.match(f) for f in fields)):
                return str(exc)
    # an expression without variables gives the same timer in every instance
    try:
        if variable_names(text):
            return None
        value = compile_expression(text).evaluate({})
        if value is None:
            return None
        parse_timer(timer.kind, _timer_text(value))
    except ExpressionError:
        return None  # not an expression either: the literal's error is raised at run time
    except TimerError as exc:
        return str(exc)
    return None


def _timer_text(value: Any) -> str:
    """A timer expression's value as timer text: strings as they are, durations and instants in
    ISO 8601."""
    if isinstance(value, timedelta | isodate.Duration):
        return str(isodate.duration_isoformat(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def open_message(ctx: Processing, owner: ElementInstance, catch: FlowNode, ref: str | None) -> bool:
    """Subscribe to a message by name and correlation key (evaluated now, in the owner's
    scope); the message side learns of it through a follow-up command."""
    proc = ctx.proc
    name = proc.message_name(ref)
    correlation = ""
    message = proc.definitions.messages.get(ref) if ref else None
    expr = message.correlation_key if message is not None else None
    if expr is not None:
        try:
            value = evaluate(expr, vars_.visible(ctx.inst, owner.key))
        except ExpressionError as exc:
            work.raise_incident(ctx, owner, IncidentType.EXTRACT_VALUE_ERROR,
                                f"Expected to evaluate the correlation key of message "
                                f"'{name}', but {exc}")
            return False
        correlation = "" if value is None else _key_text(value)
    key = ctx.new_key()
    ctx.write_element(Event.MESSAGE_SUBSCRIPTION_CREATED, owner, {
        "key": key, "name": name, "correlationKey": correlation, "elementId": catch.id})
    _register(ctx, name, correlation, key)
    return True


def _key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _register(ctx: Processing, name: str, correlation: str, key: int) -> None:
    ctx.follow_up(Command.OPEN_MESSAGE_SUBSCRIPTION, ctx.inst.instance_id, {
        "name": name, "correlationKey": correlation, "subKey": key,
        "processId": ctx.inst.process_id})


def close_all(ctx: Processing, elem: ElementInstance) -> None:
    """End everything an element waits on: timers, subscriptions, its job or user task, and
    its incidents."""
    inst = ctx.inst
    key = elem.key
    # every element completes through here: the scans are skipped when there is nothing
    # of their kind in the instance (the usual case)
    if inst.timers:
        for timer in [t for t in inst.timers.values() if t.element_key == key]:
            ctx.write_element(Event.TIMER_CANCELED, elem, {"key": timer.key})
    if inst.message_subs:
        for sub in [s for s in inst.message_subs.values() if s.element_key == key]:
            ctx.write_element(Event.MESSAGE_SUBSCRIPTION_DELETED, elem, {"key": sub.key})
            ctx.follow_up(Command.CLOSE_MESSAGE_SUBSCRIPTION, inst.instance_id, {
                "name": sub.name, "correlationKey": sub.correlation_key, "subKey": sub.key})
    if inst.signal_subs:
        for sub in [s for s in inst.signal_subs.values() if s.element_key == key]:
            ctx.write_element(Event.SIGNAL_SUBSCRIPTION_DELETED, elem, {"key": sub.key})
    job = inst.jobs.get(key)
    if job is not None:
        ctx.write_element(Event.JOB_CANCELED, elem, {"key": key, "type": job.type})
    if key in inst.user_tasks:
        ctx.write_element(Event.USER_TASK_CANCELED, elem, {"key": key})
    if inst.incidents:
        for inc in [i for i in inst.incidents.values() if i.element_key == key]:
            ctx.write_element(Event.INCIDENT_RESOLVED, elem, {"key": inc.key, "reason": "left"})


def fire(ctx: Processing, owner: ElementInstance, catch_id: str, arrival: Arrival) -> None:
    """An event `owner` waited on arrived at `catch_id`; the processor that handles it moves on:
    the boundary event's or the event subprocess's when the catch waits on behalf of `owner`,
    else the waiting element's own (catch event, receive task, event-based gateway)."""
    proc = ctx.proc
    catch = proc.node(catch_id)
    if catch.parallel_multiple and _waits_for_more(ctx, owner, catch_id, arrival):
        return
    handler = proc.handled_by.get(catch_id)
    processor = ctx.processors[handler.kind if handler is not None else owner.kind]
    processor.on_event(ctx, owner, catch, arrival)


def rearm(ctx: Processing, owner: ElementInstance, catch: FlowNode, arrival: Arrival) -> None:
    """A catch that keeps waiting after its event: a timer cycle schedules its next due time, a
    message subscription is offered to the message side again; a signal subscription stays."""
    if arrival.kind == EventKind.TIMER and arrival.timer_due is not None:
        open_timer(ctx, owner, catch, fired=arrival.timer_fired, previous_due=arrival.timer_due)
    elif arrival.kind == EventKind.MESSAGE:
        for sub in ctx.inst.message_subs.values():
            if sub.element_key == owner.key and sub.element_id == catch.id:
                _register(ctx, sub.name, sub.correlation_key, sub.key)
                return


def close_matching(ctx: Processing, owner: ElementInstance, element_ids: set[str]) -> None:
    """Close the waits of `owner` that belong to these catch elements."""
    inst = ctx.inst
    for timer in [t for t in inst.timers.values()
                  if t.element_key == owner.key and t.element_id in element_ids]:
        ctx.write_element(Event.TIMER_CANCELED, owner, {"key": timer.key})
    for sub in [s for s in inst.message_subs.values()
                if s.element_key == owner.key and s.element_id in element_ids]:
        ctx.write_element(Event.MESSAGE_SUBSCRIPTION_DELETED, owner, {"key": sub.key})
        ctx.follow_up(Command.CLOSE_MESSAGE_SUBSCRIPTION, inst.instance_id, {
            "name": sub.name, "correlationKey": sub.correlation_key, "subKey": sub.key})
    for sig in [s for s in inst.signal_subs.values()
                if s.element_key == owner.key and s.element_id in element_ids]:
        ctx.write_element(Event.SIGNAL_SUBSCRIPTION_DELETED, owner, {"key": sig.key})


def deliver_signal(ctx: Processing, sub: Subscription, variables: dict[str, Any]) -> None:
    """A signal reaches one subscription of the bound instance."""
    owner = ctx.inst.elements[sub.element_key]
    if not keeps_open(ctx, sub.element_id):
        ctx.write_element(Event.SIGNAL_SUBSCRIPTION_DELETED, owner, {"key": sub.key})
    fire(ctx, owner, sub.element_id, Arrival(EventKind.SIGNAL, variables))


def keeps_open(ctx: Processing, catch_id: str) -> bool:
    """Whether a subscription stays after it fired (its processor says: a non-interrupting
    boundary event or event subprocess start)."""
    handler = ctx.proc.handled_by.get(catch_id)
    if handler is None:
        return False
    return ctx.processors[handler.kind].keeps_waiting(ctx.proc.node(catch_id))


def _waits_for_more(ctx: Processing, owner: ElementInstance, catch_id: str,
                    arrival: Arrival) -> bool:
    """A parallel multiple catch (BPMN 10.5.6: all its triggers must happen) fires with the
    last of them: each trigger's wait ends when it happens, so while another wait of the catch
    is open this one is kept (its variables set, as the catch's completion would) and the
    catch goes on waiting."""
    inst = ctx.inst
    key = owner.key
    open_ = (
        any(t.element_key == key and t.element_id == catch_id for t in inst.timers.values())
        or any(s.element_key == key and s.element_id == catch_id
               for s in inst.message_subs.values())
        or any(s.element_key == key and s.element_id == catch_id
               for s in inst.signal_subs.values()))
    if open_ and arrival.payload:
        vars_.propagate(ctx, key, arrival.payload)
    return open_
