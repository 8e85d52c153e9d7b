"""What the engine core can run: anything else is refused when a definition is loaded.

Every refusal names the element and its line, so a modeler sees at deploy time what would
otherwise park an instance at run time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from laneway.agency_flows import crossings
from laneway.bpmn._io_values import SCRIPT_RESOURCE
from laneway.engine.behaviours import instantiate, multiple, quantities
from laneway.engine.expressions import compiles
from laneway.engine.processors import ELEMENT_PROCESSORS, ElementProcessor
from laneway.engine.state import MI_BODY_KIND
from laneway.engine.user_tasks import lane_chain, node_lane, resolve_persona
from laneway.expr import ExpressionError, compile_expression
from laneway.model import Definitions, FlowNode, NodeKind, Process
from laneway.problems import Problem

# kinds without a processor, and why
_UNSUPPORTED_KINDS = {
    NodeKind.CHOREOGRAPHY_TASK: "choreographies describe, they do not run",
    NodeKind.SUB_CHOREOGRAPHY: "choreographies describe, they do not run",
    NodeKind.CALL_CHOREOGRAPHY: "choreographies describe, they do not run",
}


def check_runnable(definitions: Definitions, process: Process) -> list[Problem]:
    """Every reason the engine core cannot run `process`, empty when it can: the checks every
    element shares, then each element's processor's own (`ElementProcessor.check`)."""
    problems: list[Problem] = []
    for node in process.nodes.values():
        processor = ELEMENT_PROCESSORS.get(node.kind)
        if processor is None:
            message = _UNSUPPORTED_KINDS.get(node.kind, f"{node.kind.value} is not supported")
            problems.append(Problem(definitions.file, node.line, node.id, message))
            continue
        problems.extend(
            Problem(definitions.file, node.line, node.id, message)
            for message in _node_problems(processor, process, node)
        )
        if (len(node.event_definitions) <= 1 and not processor.decides_conditions
                and node.kind != NodeKind.PARALLEL_GATEWAY):
            # (a parallel gateway ignores its flows' conditions: a validate warning says so)
            problems.extend(_condition_problems(definitions, process, node))
    # message flows to another agency's pool (laneway.agency_flows): each problem once, with
    # the process that holds its element (or the first process for a pool's declaration)
    first = definitions.processes[0] is process if definitions.processes else False
    problems.extend(p for p in crossings(definitions).problems
                    if (p.element_id in process.nodes) or (
                        first and not any(p.element_id in q.nodes
                                          for q in definitions.processes)))
    return problems


def _node_problems(processor: ElementProcessor, process: Process, node: FlowNode) -> Iterator[str]:
    if node.is_for_compensation and (node.incoming or node.outgoing):
        yield ("compensation handler has sequence flows; BPMN joins it to its compensation "
               "boundary event by an association only")
    if len(node.event_definitions) > 1:
        yield from multiple.problems(process, node)
    yield from processor.check(process, node)
    yield from _loop_problems(process, node)
    yield from quantities.problems(node)
    yield from instantiate.problems(process, node)
    yield from _mapping_problems(node)


def _mapping_problems(node: FlowNode) -> Iterator[str]:
    """A `camunda:script` parameter whose script is an external file: never read."""
    for source, target in (*node.io.inputs, *node.io.outputs):
        if source.language == SCRIPT_RESOURCE:
            yield (f"the script of the mapping '{target}' is the external resource "
                   f"'{source.raw}' (line {source.line}), which the engine never reads: "
                   "write the script inside the parameter")


def _loop_problems(process: Process, node: FlowNode) -> Iterator[str]:
    loop = node.loop
    if loop is None:
        return
    if loop.multi_instance:
        yield from ELEMENT_PROCESSORS[MI_BODY_KIND].check(process, node)
        return
    if loop.loop_maximum is not None and loop.loop_maximum < 0:
        yield (f"loopMaximum is {loop.loop_maximum}, but a loop cannot run a negative number "
               "of times")
    if loop.loop_condition is not None and not compiles(loop.loop_condition):
        yield f"loop condition '{loop.loop_condition.raw}' cannot be evaluated"


def _condition_problems(
    definitions: Definitions, process: Process, node: FlowNode
) -> Iterator[Problem]:
    """Conditions on the node's outgoing flows that the engine cannot evaluate (only a gateway
    that may hand them to a decision handler can have those)."""
    for fid in node.outgoing:
        flow = process.flows.get(fid)
        if flow is not None and flow.condition is not None and not compiles(flow.condition):
            yield Problem(
                definitions.file, flow.line, flow.id,
                f"condition '{flow.condition.raw}' cannot be evaluated by the engine "
                f"({_why_not(flow.condition.text)}); only a "
                "gateway can hand conditions to a decision handler")


def _why_not(text: str) -> str:
    """The compile error of an expression, in its own words (an unknown method, a syntax
    error at a column)."""
    try:
        compile_expression(text)
    except ExpressionError as exc:
        return exc.message
    return "it does not compile"  # pragma: no cover - only asked when it does not


def missing_personas(
    process: Process, mapping: Mapping[str, str], *, file: str = ""
) -> list[Problem]:
    """Lanes that hold user tasks (directly or through nested lanes) which would get no
    persona with `mapping` (`{laneId: persona}`, set at review) and the lanes' own
    `laneway:persona`; and, in a process with lanes, the user tasks in no lane. Empty when
    every user task asks for a persona.

    A process without lanes has nothing to enforce: its tasks ask for no persona, and
    candidate users or groups, if any, are what the engine checks.
    """
    lanes = {lane.id: lane for lane in process.all_lanes()}
    if not lanes:
        return []
    tasks = [n for n in process.nodes.values() if n.kind == NodeKind.USER_TASK]
    # lane id -> the tasks without a persona it holds, itself or through nested lanes
    lacking: dict[str, list[str]] = {}
    outside: list[FlowNode] = []
    for task in tasks:
        lane_id = node_lane(process.nodes, task)
        if not lane_id or lane_id not in lanes:
            outside.append(task)
            continue
        if resolve_persona(lanes, lane_id, mapping) is not None:
            continue
        for lane in lane_chain(lanes, lane_id):
            lacking.setdefault(lane.id, []).append(task.id)
    problems = [
        Problem(file, lane.line, lane.id,
                f"lane '{lane.name or lane.id}' holds user tasks without a persona "
                f"({', '.join(lacking[lane.id])}); give it laneway:persona or map it to a "
                "persona at review")
        for lane in process.all_lanes() if lane.id in lacking
    ]
    problems.extend(
        Problem(file, task.line, task.id,
                "user task is in no lane, so it has no persona; put it in a lane with one")
        for task in outside
    )
    return problems
