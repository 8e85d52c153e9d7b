"""Starting, cancelling and linking instances (call activities across instances)."""

from __future__ import annotations

import json
from typing import Any

from laneway.engine.behaviours import flow, instantiate, throw, work
from laneway.engine.context import Processing
from laneway.engine.handlers._common import command_variables, live_instance, storable
from laneway.engine.processors import call_activity
from laneway.engine.repository import RetiredError
from laneway.engine.state import PROCESS_KIND, ElementInstance
from laneway.model import EventKind, FlowNode, NodeKind
from laneway.records import Command, Event, IncidentType, RejectionType


def start_instance(ctx: Processing) -> None:
    """Create the instance and start it at its none start event (or the one named)."""
    created = create_instance(ctx)
    if created is not None:
        root, start = created
        if start is not None and start.id in ctx.proc.instantiating:
            instantiate.start_at(ctx, root, start)
            return
        flow.start_scope(ctx, root, "", start=start)


def create_instance(ctx: Processing) -> tuple[ElementInstance, FlowNode | None] | None:
    """The checks of START_INSTANCE and the instance they allow, with its variables; its root
    element and the start event named, or None when the command was rejected. (The instance
    is not started: an instance whose start went over its budget is created with an incident
    instead.)"""
    cmd = ctx.cmd
    v = cmd.value
    if cmd.instance_id in ctx.state.instances:
        ctx.reject(f"Expected a new instance id, but '{cmd.instance_id}' exists",
                   RejectionType.ALREADY_EXISTS)
        return None
    if cmd.instance_id in ctx.state.ended:
        ctx.reject(f"Expected a new instance id, but instance '{cmd.instance_id}' already "
                   "ran and ended; start a new instance with a new id",
                   RejectionType.ALREADY_EXISTS)
        return None
    process_id = str(v.get("processId", ""))
    try:
        proc = ctx.repository.startable(process_id, v.get("version"))
    except RetiredError as exc:
        ctx.reject(str(exc.args[0]), RejectionType.RETIRED)
        return None
    except KeyError as exc:
        ctx.reject(str(exc.args[0]), RejectionType.NOT_FOUND)
        return None
    start_id = v.get("startEventId")
    start = None
    if start_id is not None:
        start = proc.process.nodes.get(start_id)
        if start is None or (start.kind != NodeKind.START_EVENT
                             and start_id not in proc.instantiating) or start.parent:
            ctx.reject(f"Expected '{start_id}' to be a start event of process '{process_id}', "
                       "but it is not", RejectionType.INVALID_ARGUMENT)
            return None
    elif not proc.entry_nodes.get("", ()):
        kinds = sorted({s.event_kind.value for s in proc.start_events})
        ctx.reject(f"Expected process '{process_id}' to have a none start event, but it starts "
                   f"only on events ({', '.join(kinds)}); name the start event",
                   RejectionType.INVALID_ARGUMENT)
        return None
    variables = command_variables(ctx)
    if variables is None or not storable(ctx, v.get("businessKey"), "a business key"):
        return None
    trigger = v.get("trigger")
    if trigger is not None and not _trigger_ok(ctx, trigger):
        return None
    value: dict[str, Any] = {"key": 1, "processId": proc.id, "version": proc.version}
    if v.get("businessKey") is not None:
        value["businessKey"] = v["businessKey"]
    if trigger is not None:
        # which item of which schedule started it (the triggers service): kept on the
        # instance's first event, so its audit history says so
        value["trigger"] = trigger
    if v.get("parent"):
        value["parent"] = v["parent"]
    ctx.write(Event.ELEMENT_ACTIVATED, value, element_id=proc.id, element_type=PROCESS_KIND,
              token_id=1, scope_id=0)
    inst = ctx.bind()
    assert inst is not None
    root = inst.elements[inst.root_key]
    if variables:
        ctx.write_element(Event.VARIABLES_UPDATED, root, {"variables": dict(variables)})
    return root, start


# what a START_INSTANCE's `trigger` may weigh as compact JSON: the schedule, type, dedup key and
# a small summary of the item (the triggers service keeps it under 2,000 characters)
MAX_TRIGGER_BYTES = 4096


def _trigger_ok(ctx: Processing, trigger: object) -> bool:
    if not isinstance(trigger, dict) or not storable(ctx, trigger, "a trigger"):
        if not isinstance(trigger, dict):
            ctx.reject("Expected the trigger of a start to be an object, but it is "
                       f"{type(trigger).__name__}", RejectionType.INVALID_ARGUMENT)
        return False
    size = len(json.dumps(trigger, separators=(",", ":"), default=str))
    if size > MAX_TRIGGER_BYTES:
        ctx.reject(f"Expected the trigger of a start to be at most {MAX_TRIGGER_BYTES} bytes, "
                   f"but it is {size}", RejectionType.INVALID_ARGUMENT)
        return False
    return True


def cancel_instance(ctx: Processing) -> None:
    """Terminate everything in the instance (and its called children)."""
    if not live_instance(ctx):
        return
    inst = ctx.inst
    flow.terminate(ctx, inst.elements[inst.root_key])


def complete_call_activity(ctx: Processing) -> None:
    """The child ended: the call activity completes with the child's variables."""
    if not live_instance(ctx):
        return
    key = ctx.cmd.value.get("elementKey")
    elem = ctx.inst.elements.get(key) if isinstance(key, int) else None
    if elem is None or elem.kind != NodeKind.CALL_ACTIVITY.value:
        ctx.reject(f"Expected call activity {key} to be waiting, but it is not",
                   RejectionType.NOT_FOUND)
        return
    call_activity.child_completed(ctx, elem, dict(ctx.cmd.value.get("variables") or {}))


def _rethrow(ctx: Processing, kind: EventKind) -> None:
    if not live_instance(ctx):
        return
    v = ctx.cmd.value
    key = v.get("elementKey")
    elem = ctx.inst.elements.get(key) if isinstance(key, int) else None
    if elem is None:
        ctx.reject(f"Expected call activity {key} to be waiting, but it is not",
                   RejectionType.NOT_FOUND)
        return
    code = str(v.get("code", ""))
    message = str(v.get("message", ""))
    origin = v.get("origin")
    caught = throw.throw(ctx, elem, kind, code, message, dict(v.get("variables") or {}),
                         origin=origin if isinstance(origin, dict) else None)
    if caught or kind != EventKind.ERROR:
        return
    if isinstance(origin, dict):
        ctx.follow_up(Command.ERROR_NOT_CAUGHT, str(origin["instanceId"]), {
            "elementKey": origin["elementKey"], "stage": origin.get("stage", "activate"),
            "code": code, "message": message})
        return
    work.raise_incident(ctx, elem, IncidentType.UNHANDLED_ERROR_EVENT,
                        f"Expected the error '{code}' thrown by the called process to be "
                        "caught, but it was not")


def error_not_caught(ctx: Processing) -> None:
    """No instance up the call chain caught an error: the incident is raised where it was
    thrown, so that resolving it retries the step that threw."""
    if not live_instance(ctx):
        return
    v = ctx.cmd.value
    key = v.get("elementKey")
    elem = ctx.inst.elements.get(key) if isinstance(key, int) else None
    if elem is None:
        ctx.reject(f"Expected element {key} to be where the error was thrown, but it ended",
                   RejectionType.NOT_FOUND)
        return
    work.raise_incident(ctx, elem, IncidentType.UNHANDLED_ERROR_EVENT,
                        f"Expected to throw an error event with the code '{v.get('code', '')}', "
                        "but no instance up the call chain caught it",
                        job_key=elem.key if v.get("stage") == "job" else 0,
                        stage=str(v.get("stage", "activate")))


def error_from_child(ctx: Processing) -> None:
    """An error the child did not catch, thrown again at its call activity."""
    _rethrow(ctx, EventKind.ERROR)


def escalation_from_child(ctx: Processing) -> None:
    """An escalation the child did not catch, thrown again at its call activity."""
    _rethrow(ctx, EventKind.ESCALATION)
