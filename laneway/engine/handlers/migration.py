"""Migrating a running instance to another version of its process.

`MIGRATE_INSTANCE {targetVersion, mappings?}`: `mappings` maps element ids of the running
version to element ids of the target (an object `{source: target}`, or a list of
`{sourceElementId, targetElementId}`); an element not named maps to the element of the same
id, if the target has one. It is checked whole before anything changes, and refused with
every reason (nothing changed) when:

- the target version is not deployed, is retired, or is the version the instance runs;
- a live element instance maps to no element of the target, or to one of another kind (a
  multi-instance activity to one that is not, a timer catch to a message catch);
- an element would change its scope: its target must be in the target of its scope (the
  process, or the subprocess its scope element maps to);
- tokens wait at a joining gateway (the flows they came by would have to be mapped too).

Otherwise `INSTANCE_MIGRATED` moves the instance to the target version and renames the element
instances (and their user tasks and waits) whose ids differ: jobs, user tasks, incidents and
variables stay as they are. The waits follow the target: a timer or subscription whose catch
maps to one with the same definition keeps running (a timer keeps its due time); one whose
definition differs is closed and opened anew from the target (a message subscribes with the
target's name and correlation key, a timer counts from now); one whose catch is gone closes;
a boundary event or event subprocess the target adds begins to wait.
"""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import waits
from laneway.engine.context import Processing
from laneway.engine.executable import ExecutableProcess
from laneway.engine.handlers._common import live_instance
from laneway.engine.handlers.operations import operator_only
from laneway.engine.repository import RetiredError
from laneway.engine.state import MI_BODY_KIND, PROCESS_KIND, ElementInstance, InstanceState
from laneway.model import EventKind, FlowNode, NodeKind
from laneway.records import Command, Event, RejectionType

MAX_MAPPINGS = 1000
_WAITABLE = frozenset({EventKind.TIMER, EventKind.MESSAGE, EventKind.SIGNAL})
# the catches an element instance itself waits on (not its boundary events)
_OWN_WAITS = frozenset({NodeKind.INTERMEDIATE_CATCH_EVENT, NodeKind.RECEIVE_TASK})


def migrate_instance(ctx: Processing) -> None:
    """Move the instance to `targetVersion`, or reject with every reason it cannot."""
    if not live_instance(ctx) or not operator_only(ctx, "migrate an instance"):
        return
    inst = ctx.inst
    v = ctx.cmd.value
    target_version = v.get("targetVersion")
    if not isinstance(target_version, int) or isinstance(target_version, bool) \
            or target_version < 1:
        ctx.reject("Expected targetVersion: a version number", RejectionType.INVALID_ARGUMENT)
        return
    if target_version == inst.version:
        ctx.reject(f"Expected a version other than the one instance '{inst.instance_id}' runs "
                   f"({inst.version})", RejectionType.INVALID_ARGUMENT)
        return
    mappings = _mappings(v.get("mappings"))
    if isinstance(mappings, str):
        ctx.reject(mappings, RejectionType.INVALID_ARGUMENT)
        return
    try:
        target = ctx.repository.get(inst.process_id, target_version)
    except KeyError:
        ctx.reject(f"Expected version {target_version} of process '{inst.process_id}' to be "
                   "deployed, but it is not", RejectionType.NOT_FOUND)
        return
    if ctx.repository.is_retired(inst.process_id, target_version):
        ctx.reject(str(RetiredError(f"Expected version {target_version} of process "
                                    f"'{inst.process_id}' to take instances, but it is "
                                    "retired")), RejectionType.RETIRED)
        return
    source = ctx.proc
    renames, problems = _element_plan(inst, source, target, mappings)
    if inst.joins:
        gateways = sorted({g for scope in inst.joins.values() for g in scope})
        problems.append(f"tokens wait at the joining gateway(s) {', '.join(gateways[:10])}: "
                        "migrate once the join has fired")
    if problems:
        ctx.reject(f"Expected every active element to map to version {target_version}, but "
                   f"{len(problems)} do not (nothing was changed): {'; '.join(problems)}",
                   RejectionType.INVALID_STATE)
        return
    keep, close = _wait_plan(inst, source, target, mappings, renames)
    for owner, wait_key, _ in close:
        _close_wait(ctx, owner, wait_key)
    root = inst.elements[inst.root_key]
    value: dict[str, Any] = {"sourceVersion": inst.version, "targetVersion": target_version}
    if renames:
        value["elementIds"] = {str(k): new for k, new in sorted(renames.items())}
    renamed_waits = {str(k): new for k, new in sorted(keep.items()) if new}
    if renamed_waits:
        value["waitIds"] = renamed_waits
    # the worklist keeps tasks by task key: it learns their new element ids by it
    tasks = {str(t.key): renames[t.element_key] for t in inst.user_tasks.values()
             if t.element_key in renames}
    if tasks:
        value["taskElementIds"] = dict(sorted(tasks.items()))
    if mappings:
        value["mappings"] = dict(mappings)
    ctx.write_element(Event.INSTANCE_MIGRATED, root, value)
    ctx.bind()  # the target version from here on
    _open_missing(ctx, {(owner.key, catch) for owner, _, catch in close})


def _mappings(raw: object) -> dict[str, str] | str:
    if raw is None:
        return {}
    pairs: list[tuple[object, object]]
    if isinstance(raw, dict):
        pairs = list(raw.items())
    elif isinstance(raw, list):
        pairs = [(m.get("sourceElementId"), m.get("targetElementId")) if isinstance(m, dict)
                 else (None, None) for m in raw]
    else:
        return "Expected mappings: an object {source: target} or a list of " \
               "{sourceElementId, targetElementId}"
    if len(pairs) > MAX_MAPPINGS:
        return f"Expected at most {MAX_MAPPINGS} mappings, but got {len(pairs)}"
    out: dict[str, str] = {}
    for src, tgt in pairs:
        if not isinstance(src, str) or not isinstance(tgt, str) or not src or not tgt \
                or len(src) > 256 or len(tgt) > 256:
            return "Expected each mapping to name a source and a target element id"
        out[src] = tgt
    return out


def _element_plan(inst: InstanceState, source: ExecutableProcess, target: ExecutableProcess,
                  mappings: dict[str, str]) -> tuple[dict[int, str], list[str]]:
    """(element instance key -> its new element id where it changes, the problems)."""
    renames: dict[int, str] = {}
    problems: list[str] = []
    for elem in sorted(inst.elements.values(), key=lambda e: e.key):
        if elem.kind == PROCESS_KIND:
            continue
        new_id = mappings.get(elem.element_id, elem.element_id)
        node = target.process.nodes.get(new_id)
        what = f"'{elem.element_id}' ({elem.key})"
        if node is None:
            problems.append(f"{what} maps to no element of version {target.version}"
                            + ("" if elem.element_id in mappings else "; map it"))
            continue
        reason = _kind_differs(elem, source.process.nodes.get(elem.element_id), node)
        if reason:
            problems.append(f"{what} maps to '{new_id}', {reason}")
            continue
        scope = inst.elements[elem.scope_key]
        if scope.kind == MI_BODY_KIND:
            # an inner instance stays the activity its body wraps
            wanted = mappings.get(scope.element_id, scope.element_id)
            if new_id != wanted:
                problems.append(f"{what} is an instance of a multi-instance activity and "
                                f"maps to '{new_id}', but its body maps to '{wanted}'")
                continue
        else:
            wanted_parent = None if scope.kind == PROCESS_KIND \
                else mappings.get(scope.element_id, scope.element_id)
            if node.parent != wanted_parent:
                problems.append(f"{what} maps to '{new_id}' in "
                                f"'{node.parent or target.id}', but its scope maps to "
                                f"'{wanted_parent or target.id}'")
                continue
        if new_id != elem.element_id:
            renames[elem.key] = new_id
    return renames, problems


def _kind_differs(elem: ElementInstance, old: FlowNode | None, node: FlowNode) -> str:
    multi = node.loop is not None and node.loop.multi_instance
    if elem.kind == MI_BODY_KIND:
        return "" if multi else "which is not a multi-instance activity"
    if node.kind.value != elem.kind:
        return f"a {node.kind.value}, not a {elem.kind}"
    if old is not None and old.event_kind != node.event_kind:
        return f"a {node.event_kind.value} event, not a {old.event_kind.value} event"
    return ""


def _definition(proc: ExecutableProcess, catch: FlowNode) -> tuple[str, ...]:
    """What a wait on `catch` waits for, to tell whether the target's catch waits for the same."""
    if catch.kind == NodeKind.RECEIVE_TASK:
        msg = proc.definitions.messages.get(catch.message_ref) if catch.message_ref else None
        corr = msg.correlation_key.text if msg is not None and msg.correlation_key else ""
        return ("message", proc.message_name(catch.message_ref), corr)
    ed = catch.event_definition
    if ed is None:
        return ("none",)
    if ed.kind == EventKind.TIMER and ed.timer is not None:
        return ("timer", ed.timer.kind.value, ed.timer.expression.text)
    if ed.kind == EventKind.MESSAGE:
        msg = proc.definitions.messages.get(ed.ref) if ed.ref else None
        corr = msg.correlation_key.text if msg is not None and msg.correlation_key else ""
        return ("message", proc.message_name(ed.ref), corr)
    if ed.kind == EventKind.SIGNAL:
        return ("signal", proc.signal_name(ed.ref))
    return (ed.kind.value,)


def _expected_catches(target: ExecutableProcess, elem: ElementInstance,
                      node_id: str) -> dict[str, str]:
    """The catches the element instance waits on in the target version, by catch id: 'own'
    (its own event, an event-based gateway's targets), 'boundary', or 'esp' (an event
    subprocess start of a scope)."""
    out: dict[str, str] = {}
    if elem.kind == PROCESS_KIND:
        scope_id = ""
    else:
        node = target.process.nodes[node_id]
        scope_id = node_id
        inner = elem.kind != MI_BODY_KIND and node.loop is not None and node.loop.multi_instance
        if elem.kind != MI_BODY_KIND:
            if node.kind in _OWN_WAITS:
                out[node.id] = "own"
            elif node.kind == NodeKind.EVENT_BASED_GATEWAY:
                for fid in node.outgoing:
                    out[target.flow(fid).target] = "own"
        if not inner:
            for b in target.boundaries.get(node_id, ()):
                if b.event_kind in _WAITABLE:
                    out[b.id] = "boundary"
        if node.kind not in (NodeKind.SUB_PROCESS,) or elem.kind == MI_BODY_KIND:
            return out
    for esp in target.event_subprocesses.get(scope_id, ()):
        start = target.esp_starts.get(esp.id)
        if start is not None and start.event_kind in _WAITABLE:
            out[start.id] = "esp"
    return out


def _waits_of(inst: InstanceState, key: int) -> list[tuple[int, str]]:
    """(wait key, catch id) of every timer and subscription an element instance holds."""
    out = [(t.key, t.element_id) for t in inst.timers.values() if t.element_key == key]
    out += [(s.key, s.element_id) for s in inst.message_subs.values() if s.element_key == key]
    out += [(s.key, s.element_id) for s in inst.signal_subs.values() if s.element_key == key]
    return sorted(out)


def _wait_plan(inst: InstanceState, source: ExecutableProcess, target: ExecutableProcess,
               mappings: dict[str, str], renames: dict[int, str]
               ) -> tuple[dict[int, str], list[tuple[ElementInstance, int, str]]]:
    """(waits kept: key -> new catch id, '' when it keeps its id; waits to close, with the
    catch of the target they map to)."""
    keep: dict[int, str] = {}
    close: list[tuple[ElementInstance, int, str]] = []
    for elem in sorted(inst.elements.values(), key=lambda e: e.key):
        node_id = renames.get(elem.key, elem.element_id)
        expected = _expected_catches(target, elem, node_id)
        for wait_key, catch_id in _waits_of(inst, elem.key):
            new_catch = mappings.get(catch_id, catch_id)
            old = source.process.nodes.get(catch_id)
            new = target.process.nodes.get(new_catch)
            if (new_catch in expected and old is not None and new is not None
                    and _definition(source, old) == _definition(target, new)):
                keep[wait_key] = new_catch if new_catch != catch_id else ""
            else:
                close.append((elem, wait_key, new_catch))
    return keep, close


def _close_wait(ctx: Processing, owner: ElementInstance, key: int) -> None:
    inst = ctx.inst
    if key in inst.timers:
        ctx.write_element(Event.TIMER_CANCELED, owner, {"key": key})
        return
    sub = inst.message_subs.get(key)
    if sub is not None:
        ctx.write_element(Event.MESSAGE_SUBSCRIPTION_DELETED, owner, {"key": key})
        ctx.follow_up(Command.CLOSE_MESSAGE_SUBSCRIPTION, inst.instance_id, {
            "name": sub.name, "correlationKey": sub.correlation_key, "subKey": key})
        return
    if key in inst.signal_subs:
        ctx.write_element(Event.SIGNAL_SUBSCRIPTION_DELETED, owner, {"key": key})


def _open_missing(ctx: Processing, closed: set[tuple[int, str]]) -> None:
    """After the move: every boundary event and event subprocess start the target has for a
    live element instance that nothing waits on yet begins to wait; an element's own catch
    waits again when its wait was closed because its definition changed (an element held by
    an incident stays held)."""
    inst = ctx.inst
    target = ctx.proc
    for elem in sorted(inst.elements.values(), key=lambda e: e.key):
        expected = _expected_catches(target, elem, elem.element_id)
        if not expected:
            continue
        held = {catch for _, catch in _waits_of(inst, elem.key)}
        esp_running = any(e.scope_key == elem.key and e.element_id in target.process.nodes
                          and target.process.nodes[e.element_id].triggered_by_event
                          for e in inst.elements.values())
        for catch_id, role in expected.items():
            if catch_id in held:
                continue
            if role == "own" and (elem.key, catch_id) not in closed:
                continue
            if role == "esp" and esp_running:
                continue
            catch = target.process.nodes[catch_id]
            if role == "own":
                ctx.processors[catch.kind].wait_on(ctx, elem, catch)
            else:
                waits.open_wait(ctx, elem, catch)
