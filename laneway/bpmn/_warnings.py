"""Warnings about diagrams that deploy but may run away: `laneway validate` prints them and
goes on (they are no errors: a loop with a condition that ends it is fine).

- a loop of elements that never wait (plain and manual tasks, FEEL scripts, gateways, throw
  events): an instance that enters it runs until the engine's work budget ends it with an
  incident (laneway/engine/limits.py);
- a parallel fork whose branch loops back into the fork before any wait: every round adds
  tokens;
- call activities that call their own process, directly or through other processes of the
  file: each call starts an instance, until the call depth bound stops it;
- conditions on the outgoing flows of a parallel gateway, which the engine ignores.

Every check is linear in the size of the diagram: strongly connected components
(Tarjan's, without recursion) of the graph of elements that do not wait, and of the file's
call graph.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from laneway.model import Definitions, FlowNode, NodeKind, Process
from laneway.problems import Problem

# elements a token passes without waiting (a script without a job type runs in the engine,
# a throw event other than a message throw publishes at once)
_PASSING = frozenset({
    NodeKind.TASK,
    NodeKind.MANUAL_TASK,
    NodeKind.EXCLUSIVE_GATEWAY,
    NodeKind.INCLUSIVE_GATEWAY,
    NodeKind.PARALLEL_GATEWAY,
    NodeKind.SCRIPT_TASK,
    NodeKind.INTERMEDIATE_THROW_EVENT,
})


def diagram_warnings(defs: Definitions) -> list[Problem]:
    """Loops that never wait, fork loops and self-calling processes, in file order."""
    out: list[Problem] = []
    for process in defs.processes:
        out.extend(_busy_loops(defs.file, process))
        out.extend(_parallel_conditions(defs.file, process))
    out.extend(_call_cycles(defs))
    return out


def _passes(node: FlowNode) -> bool:
    if node.kind not in _PASSING or node.loop is not None:
        return False
    if node.kind == NodeKind.SCRIPT_TASK:
        return node.job_type is None
    if node.kind == NodeKind.INTERMEDIATE_THROW_EVENT:
        return node.job_type is None and node.message_ref is None
    return True


def _busy_loops(file: str, process: Process) -> Iterable[Problem]:
    nodes = process.nodes
    passing = {nid for nid, node in nodes.items() if _passes(node)}
    edges: dict[str, list[str]] = {nid: [] for nid in passing}
    for flow in process.flows.values():
        if flow.source in passing and flow.target in passing:
            edges[flow.source].append(flow.target)
    for component in _cycles(edges):
        members = sorted(component, key=lambda nid: (nodes[nid].line, nid))
        first = nodes[members[0]]
        fork = next((nodes[n] for n in members if nodes[n].kind == NodeKind.PARALLEL_GATEWAY
                     and len(nodes[n].outgoing) > 1), None)
        names = ", ".join(members)
        if fork is not None:
            yield Problem(file, fork.line, fork.id,
                          f"warning: a branch of parallel gateway '{fork.id}' loops back into "
                          f"it without waiting ({names}): every round adds tokens, until the "
                          "engine's work budget stops the instance with an incident")
        else:
            yield Problem(file, first.line, first.id,
                          f"warning: a loop of elements that never wait ({names}): unless a "
                          "condition ends it, an instance in it runs until the engine's work "
                          "budget stops it with an incident; add a wait state or a bound")


def _parallel_conditions(file: str, process: Process) -> Iterable[Problem]:
    # A parallel gateway takes every outgoing flow (BPMN 2.0.2, 10.6.4 and 13.3.4): a
    # condition on one of them does not gate it, as Camunda and the conformance suites treat
    # it; said, since a modeler who wrote one meant something by it
    for flow in sorted(process.flows.values(), key=lambda f: (f.line, f.id)):
        source = process.nodes.get(flow.source)
        if flow.condition is not None and source is not None and (
                source.kind == NodeKind.PARALLEL_GATEWAY):
            yield Problem(file, flow.line, flow.id,
                          f"warning: condition '{flow.condition.raw[:80]}' on a flow out of "
                          f"parallel gateway '{source.id}' is ignored: a parallel gateway "
                          "takes every outgoing flow; use an inclusive gateway to choose")


def _call_cycles(defs: Definitions) -> Iterable[Problem]:
    processes = {p.id: p for p in defs.processes}
    calls: dict[str, list[str]] = {pid: [] for pid in processes}
    callers: dict[tuple[str, str], FlowNode] = {}
    for process in defs.processes:
        for node in process.nodes.values():
            called = (node.called_element or "").strip()
            if node.kind == NodeKind.CALL_ACTIVITY and called in processes:
                calls[process.id].append(called)
                callers.setdefault((process.id, called), node)
    for component in _cycles(calls):
        inside = set(component)
        for (caller, called), node in sorted(callers.items(), key=lambda c: c[1].line):
            if caller in inside and called in inside:
                how = ("calls its own process" if caller == called else
                       f"calls '{called}', which calls back into '{caller}'")
                yield Problem(defs.file, node.line, node.id,
                              f"warning: call activity {how}: every instance starts another, "
                              "until the call depth bound stops it with an incident")


def _cycles(edges: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """The strongly connected components that hold a cycle (more than one node, or one with
    an edge to itself); Tarjan's algorithm with an explicit stack."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, at = work[-1]
            targets = edges.get(node, ())
            if at < len(targets):
                work[-1] = (node, at + 1)
                target = targets[at]
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(component)
    return found
