"""Which message flows of a diagram cross to another agency, and what crosses (docs/agencies.md).

A pool belongs to an agency when its `bpmn:participant` says so with `laneway:agency="b"`. A
message flow whose source is a send task, message intermediate throw event or message end event
of a pool and whose target is (an element of) a pool of another agency *crosses*: the engine
does not publish that message into its own message side but hands it to the agency bridge
(`services/engine/batch.py` writes it to the topic configured for that partner). Only the
variables the flow declares cross (`laneway:variables="caseId,question"` on the message flow,
else on the `bpmn:message`); none when neither declares any.

Pure: the model in, crossings and problems out; the engine core asks `crossing(defs, node id)`
when an element throws.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.bpmn._xml import LANEWAY_NS
from laneway.model import Definitions, EventKind, FlowNode, NodeKind, Participant
from laneway.problems import Problem

AGENCY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
"""An agency's name: lower-case letters, digits, `_`, `-`, at most 63; it is part of a principal
id (`agency:<name>`) and usually of a topic name."""
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_DECLARED = 64
"""At most this many variables one message flow declares."""
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1d3c52-6a0e-5b7e-9a53-0c3d2b8e4a11")


@dataclass(frozen=True, slots=True)
class Crossing:
    """A message flow from a throwing element to a pool of another agency."""

    flow_id: str
    agency: str
    """The receiving agency (`laneway:agency` of the target's pool)."""
    variables: tuple[str, ...]
    """The names of the variables that cross."""


@dataclass(frozen=True, slots=True)
class Crossings:
    """Every crossing of one file by its source element, and the problems of its declarations."""

    by_source: Mapping[str, Crossing]
    problems: tuple[Problem, ...]


def message_id(instance_id: str, element_key: int) -> str:
    """The id of a message an element instance sends across: the same for a replay or a retry
    of the same element instance, so the receiver correlates it once."""
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{instance_id}/{element_key}"))


def laneway_attr(defs: Definitions, attrs: Mapping[str, str], local: str) -> str | None:
    """An attribute in Laneway's namespace, whatever prefix the file gives it."""
    for key, value in attrs.items():
        prefix, _, name = key.rpartition(":")
        if name == local and defs.namespaces.get(prefix) == LANEWAY_NS:
            return value
    return None


_SENDERS = (NodeKind.SEND_TASK,)
_DEFAULT_SEND_TYPE = "send"


def explicit_job_type(node: FlowNode) -> str | None:
    """The job type the diagram gives the node; a send task's default type `send` is none."""
    if node.kind == NodeKind.SEND_TASK and node.job_type == _DEFAULT_SEND_TYPE:
        return None
    return node.job_type
_THROWERS = (NodeKind.INTERMEDIATE_THROW_EVENT, NodeKind.END_EVENT)

# the crossings of the files read last (a definition is loaded once and thrown from often);
# keyed by identity, the file kept alive with its entry so the id is not reused
_cache: dict[int, tuple[Definitions, Crossings]] = {}
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def crossings(defs: Definitions) -> Crossings:
    """The crossings of `defs` (cached by identity)."""
    hit = _cache.get(id(defs))
    if hit is not None and hit[0] is defs:
        return hit[1]
    found = _read(defs)
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[id(defs)] = (defs, found)
    return found


def crossing(defs: Definitions, node_id: str) -> Crossing | None:
    """The crossing that starts at `node_id`, if any."""
    return crossings(defs).by_source.get(node_id)


def _read(defs: Definitions) -> Crossings:
    problems: list[Problem] = []
    by_source: dict[str, Crossing] = {}
    node_process: dict[str, str] = {}
    for proc in defs.processes:
        for nid in proc.nodes:
            node_process[nid] = proc.id
    nodes = {nid: node for proc in defs.processes for nid, node in proc.nodes.items()}

    def problem(line: int, element_id: str, message: str) -> None:
        problems.append(Problem(defs.file, line, element_id, message))

    for collab in defs.collaborations:
        pools: dict[str, Participant] = {p.id: p for p in collab.participants}
        by_process = {p.process_ref: p for p in collab.participants if p.process_ref}
        agency_of: dict[str, str | None] = {}
        for pool in collab.participants:
            name = laneway_attr(defs, pool.attrs, "agency")
            if name is not None and not AGENCY_NAME.fullmatch(name):
                problem(pool.line, pool.id, (
                    f"Expected laneway:agency to be an agency name (lower-case letters, digits, "
                    f"'_' and '-', at most 63), but it is '{name[:80]}'"))
                name = None
            agency_of[pool.id] = name

        for flow in collab.message_flows:
            target = _pool_of(flow.target, pools, by_process, node_process)
            source_pool = _pool_of(flow.source, pools, by_process, node_process)
            if target is None or source_pool is None:
                continue
            to_agency = agency_of.get(target.id)
            if to_agency is None or to_agency == agency_of.get(source_pool.id):
                continue
            node = nodes.get(flow.source)
            if node is None:
                continue  # from a pool drawn as a black box: the other agency sends it
            sends = node.kind in _SENDERS or (
                node.kind in _THROWERS and node.event_kind == EventKind.MESSAGE)
            if not sends:
                problem(flow.line, flow.id, (
                    f"Expected a message flow to agency '{to_agency}' to start at a send task or "
                    f"a message throw or end event, but '{node.id}' is a {node.kind.value}"))
                continue
            if explicit_job_type(node):
                problem(node.line, node.id, (
                    f"Expected no job type on '{node.id}': its message flow crosses to agency "
                    f"'{to_agency}', so the engine sends it, not a connector"))
                continue
            ed = node.event_definition
            ref = (ed.ref if ed else None) or node.message_ref or flow.message_ref
            if not ref or ref not in defs.messages:
                problem(node.line, node.id, (
                    f"Expected '{node.id}' to name a bpmn:message: its message flow crosses to "
                    f"agency '{to_agency}', whose engine correlates by the message's name"))
                continue
            if node.id in by_source and by_source[node.id].agency != to_agency:
                problem(flow.line, flow.id, (
                    f"Expected '{node.id}' to send to one agency, but message flows go to "
                    f"'{by_source[node.id].agency}' and '{to_agency}'"))
                continue
            declared = laneway_attr(defs, flow.attrs, "variables")
            if declared is None:
                declared = laneway_attr(defs, defs.messages[ref].attrs, "variables")
            names = tuple(n.strip() for n in (declared or "").split(",") if n.strip())
            bad = [n for n in names if not _VARIABLE.fullmatch(n)]
            if bad or len(names) > MAX_DECLARED:
                problem(flow.line, flow.id, (
                    f"Expected laneway:variables to be at most {MAX_DECLARED} comma-separated "
                    f"variable names, but " + (f"'{bad[0][:80]}' is none" if bad
                                               else f"it has {len(names)}")))
                continue
            by_source[node.id] = Crossing(flow.id, to_agency, tuple(dict.fromkeys(names)))
    return Crossings(by_source, tuple(problems))


def _pool_of(ref: str, pools: Mapping[str, Participant], by_process: Mapping[str, Participant],
             node_process: Mapping[str, str]) -> Participant | None:
    """The pool `ref` is, or the pool of the process that holds element `ref`."""
    if ref in pools:
        return pools[ref]
    proc = node_process.get(ref)
    return by_process.get(proc) if proc is not None else None
