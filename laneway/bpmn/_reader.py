"""Reading the BPMN 2.0 semantic model from a parsed document.

One pass over the tree: definitions-level elements first (processes refer to them), then every
process with its subprocesses flattened into one node and flow table. Problems (missing or
duplicate ids, dangling references) are collected, not raised one at a time, so a modeler sees
all of them at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from laneway.bpmn import _vendor as vendor
from laneway.bpmn._common import (
    SyntheticIds,
    bool_attr,
    bpmn_local,
    documentation_of,
    extensions_of,
    foreign_attrs,
    ref_id,
)
from laneway.bpmn._dialect import detect_dialect
from laneway.bpmn._expressions import element_text, formal_expression, normalize_language
from laneway.bpmn._xml import BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, Limits, Prefixes, line_of
from laneway.model import (
    Collaboration,
    ComplexBehaviorDefinition,
    DataObject,
    Definitions,
    ErrorDef,
    EscalationDef,
    EventDefinition,
    EventKind,
    Expression,
    ExtensionElement,
    FlowNode,
    Lane,
    LoopCharacteristics,
    Message,
    MessageFlow,
    NodeKind,
    Participant,
    Process,
    SequenceFlow,
    Signal,
    TimerDefinition,
    TimerKind,
)
from laneway.model._elements import ACTIVITY_KINDS, SUBPROCESS_KINDS, frozen_map
from laneway.problems import Problem

_NODE_KINDS = {k.value: k for k in NodeKind}
# the global tasks a call activity can call (BPMN 10.3.6), as the task each runs as
_GLOBAL_TASKS = {
    "globalTask": NodeKind.TASK,
    "globalScriptTask": NodeKind.SCRIPT_TASK,
    "globalUserTask": NodeKind.USER_TASK,
    "globalManualTask": NodeKind.MANUAL_TASK,
    "globalBusinessRuleTask": NodeKind.BUSINESS_RULE_TASK,
}
_EVENT_KINDS = {
    "messageEventDefinition": EventKind.MESSAGE,
    "timerEventDefinition": EventKind.TIMER,
    "signalEventDefinition": EventKind.SIGNAL,
    "errorEventDefinition": EventKind.ERROR,
    "escalationEventDefinition": EventKind.ESCALATION,
    "terminateEventDefinition": EventKind.TERMINATE,
    "linkEventDefinition": EventKind.LINK,
    "compensateEventDefinition": EventKind.COMPENSATE,
    "conditionalEventDefinition": EventKind.CONDITIONAL,
    "cancelEventDefinition": EventKind.CANCEL,
}
_REF_ATTRS = {
    EventKind.MESSAGE: "messageRef",
    EventKind.SIGNAL: "signalRef",
    EventKind.ERROR: "errorRef",
    EventKind.ESCALATION: "escalationRef",
    EventKind.COMPENSATE: "activityRef",
}
_CODE_REFS = frozenset({"errorRef", "escalationRef"})
_TIMER_KINDS = {k.value: k for k in TimerKind}
_DATA_KINDS = frozenset({"dataObject", "dataObjectReference", "dataStoreReference", "property"})
# Kinds that hand work to a worker; other kinds get a job type only when one is written.
_JOB_KINDS = (ACTIVITY_KINDS - SUBPROCESS_KINDS - {NodeKind.USER_TASK, NodeKind.CALL_ACTIVITY}) | {
    NodeKind.INTERMEDIATE_THROW_EVENT,
    NodeKind.END_EVENT,
}
# Ids are unique across the semantic model and its diagram interchange, not across foreign
# extension elements (a Camunda form field's id is not a BPMN id).
_ID_NAMESPACES = tuple(f"{{{ns}}}" for ns in (BPMN_NS, BPMNDI_NS, DC_NS, DI_NS))



# BPMN's resource roles on activities (who performs or may claim a user task)
_RESOURCE_ROLES = frozenset({"performer", "humanPerformer", "potentialOwner"})


def _resource_expression(el: etree._Element) -> str:
    """The text of a resource role's resourceAssignmentExpression/formalExpression."""
    for node in el.iter():
        if bpmn_local(node) == "formalExpression":
            return (node.text or "").strip()
    return ""


@dataclass
class _ProcessParts:
    nodes: list[dict[str, Any]] = field(default_factory=list)
    flows: list[SequenceFlow] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)
    data: list[DataObject] = field(default_factory=list)
    associations: list[tuple[str, str]] = field(default_factory=list)


class Reader:
    """Builds `Definitions` from a document whose root is BPMN `definitions`."""

    def __init__(
        self, root: etree._Element, file: str, prefixes: Prefixes, limits: Limits
    ) -> None:
        self.root = root
        self.file = file
        self.prefixes = prefixes
        self.limits = limits
        self.problems: list[Problem] = []
        self.ids: dict[str, int] = {}
        self._refs: list[tuple[str, str, int, str | None]] = []
        self.language = root.get("expressionLanguage")
        self._root_event_defs: dict[str, etree._Element] = {}
        # global tasks of the file by id: a call activity naming one runs it inline
        self._global_tasks: dict[str, etree._Element] = {}
        self._read_event_defs: dict[str, EventDefinition] = {}
        self._data_stores: dict[str, DataObject] = {}
        self._synthetic = SyntheticIds()

    # -- shared ---------------------------------------------------------------------------

    def _problem(self, line: int, element_id: str | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, element_id, message))

    def _ref(self, el: etree._Element, attr: str, owner: str | None) -> str | None:
        value = ref_id(el.get(attr))
        if value:
            self._refs.append((value, attr, line_of(el), owner))
        return value

    def _ref_text(self, el: etree._Element, what: str, owner: str | None) -> str | None:
        value = ref_id(el.text)
        if value:
            self._refs.append((value, what, line_of(el), owner))
        return value

    def _base(self, el: etree._Element, synthesize_id: bool = False) -> dict[str, Any]:
        element_id = el.get("id")
        line = line_of(el)
        if element_id is None and synthesize_id:
            element_id = self._synthetic_id(el, line)
        return {
            "id": element_id or "",
            "name": el.get("name"),
            "line": line,
            "attrs": foreign_attrs(el, self.prefixes),
            "extensions": extensions_of(el, self.prefixes),
            "documentation": documentation_of(el),
        }

    def _synthetic_id(self, el: etree._Element, line: int) -> str:
        element_id = self._synthetic.make(el)
        self.ids.setdefault(element_id, line)
        return element_id

    def _collect_ids(self) -> None:
        for el in self.root.iter(etree.Element):
            tag = el.tag
            if not isinstance(tag, str) or not tag.startswith(_ID_NAMESPACES):
                continue
            element_id = el.get("id")
            if element_id is None:
                continue
            line = line_of(el)
            first = self.ids.get(element_id)
            if first is None:
                self.ids[element_id] = line
            else:
                self._problem(
                    line,
                    element_id,
                    f"Expected unique ids, but '{element_id}' is already used at line {first}",
                )

    def _check_refs(self) -> None:
        for value, attr, line, owner in self._refs:
            # Camunda 7 and Flowable read a dangling errorRef/escalationRef as the code itself.
            if value not in self.ids and attr not in _CODE_REFS:
                self._problem(
                    line,
                    owner,
                    f"Expected {attr} '{value}' to name an element of this file, but none has "
                    "that id",
                )

    # -- definitions ----------------------------------------------------------------------

    def read(self, source: bytes) -> Definitions:
        """Read the whole document; problems are left in `self.problems`."""
        self._collect_ids()
        root = self.root
        messages: dict[str, Message] = {}
        signals: dict[str, Signal] = {}
        errors: dict[str, ErrorDef] = {}
        escalations: dict[str, EscalationDef] = {}
        for child in root:
            local = bpmn_local(child)
            if local == "message":
                base = self._base(child)
                key = vendor.correlation_key(base["extensions"], self.language)
                messages[base["id"]] = Message(**base, correlation_key=key)
            elif local == "signal":
                base = self._base(child)
                signals[base["id"]] = Signal(**base)
            elif local == "error":
                base = self._base(child)
                errors[base["id"]] = ErrorDef(**base, code=child.get("errorCode"))
            elif local == "escalation":
                base = self._base(child)
                escalations[base["id"]] = EscalationDef(**base, code=child.get("escalationCode"))
            elif local == "dataStore":
                self._data_stores[child.get("id") or ""] = self._data(child, local, None)
            elif local in _EVENT_KINDS and child.get("id"):
                self._root_event_defs[child.get("id") or ""] = child
            elif local in _GLOBAL_TASKS and child.get("id"):
                self._global_tasks[child.get("id") or ""] = child
        process_els = [c for c in root if bpmn_local(c) == "process"]
        if len(process_els) > self.limits.max_processes:
            # each process of a file is stored and loaded with the whole file
            self._problem(
                line_of(process_els[self.limits.max_processes]),
                None,
                f"Expected at most {self.limits.max_processes} processes in one file, but it "
                f"has {len(process_els)}",
            )
            return Definitions(id=root.get("id") or "", line=line_of(root), file=self.file)
        processes = tuple(self._process(c) for c in process_els)
        collaborations = tuple(
            self._collaboration(c) for c in root if bpmn_local(c) == "collaboration"
        )
        self._check_refs()
        return Definitions(
            **self._base(root),
            target_namespace=root.get("targetNamespace"),
            processes=processes,
            collaborations=collaborations,
            messages=frozen_map(messages),
            signals=frozen_map(signals),
            errors=frozen_map(errors),
            escalations=frozen_map(escalations),
            namespaces=frozen_map({(p or ""): uri for p, uri in root.nsmap.items()}),
            exporter=root.get("exporter"),
            dialect=detect_dialect(root, root.nsmap),
            file=self.file,
            source=source,
        )

    def _collaboration(self, el: etree._Element) -> Collaboration:
        base = self._base(el)
        participants: list[Participant] = []
        message_flows: list[MessageFlow] = []
        for child in el:
            local = bpmn_local(child)
            if local == "participant":
                p_base = self._base(child)
                participants.append(
                    Participant(**p_base, process_ref=self._ref(child, "processRef", p_base["id"]))
                )
            elif local == "messageFlow":
                m_base = self._base(child, synthesize_id=True)
                owner = m_base["id"]
                message_flows.append(
                    MessageFlow(
                        **m_base,
                        source=self._ref(child, "sourceRef", owner) or "",
                        target=self._ref(child, "targetRef", owner) or "",
                        message_ref=self._ref(child, "messageRef", owner),
                    )
                )
        return Collaboration(
            **base, participants=tuple(participants), message_flows=tuple(message_flows)
        )

    # -- processes ------------------------------------------------------------------------

    def _process(self, el: etree._Element) -> Process:
        base = self._base(el)
        parts = _ProcessParts()
        self._container(el, parts, None)
        incoming: dict[str, list[str]] = defaultdict(list)
        outgoing: dict[str, list[str]] = defaultdict(list)
        for flow in parts.flows:
            outgoing[flow.source].append(flow.id)
            incoming[flow.target].append(flow.id)
        lane_of: dict[str, str] = {}
        stack = list(parts.lanes)
        while stack:
            lane = stack.pop()
            # Parents are visited before their children, so the innermost lane wins.
            for ref in lane.flow_node_refs:
                lane_of[ref] = lane.id
            stack.extend(lane.child_lanes)
        # A node inside a subprocess that no lane names is worked in its subprocess's lane;
        # subprocesses are listed before their contents, so the parent is already settled.
        for kw in parts.nodes:
            if kw["id"] not in lane_of and kw["parent"] in lane_of:
                lane_of[kw["id"]] = lane_of[kw["parent"]]
        nodes = {
            kw["id"]: FlowNode(
                **kw,
                incoming=tuple(incoming.get(kw["id"], ())),
                outgoing=tuple(outgoing.get(kw["id"], ())),
                lane=lane_of.get(kw["id"]),
            )
            for kw in parts.nodes
        }
        data = list(parts.data)
        # Data stores are declared once per file; each process gets those it references (each
        # once: by id, not `in` the list, which compared every element with every other).
        added: set[str] = set()
        for d in parts.data:
            store = self._data_stores.get(d.ref or "") if d.kind == "dataStoreReference" else None
            if store is not None and d.ref not in added:
                added.add(d.ref or "")
                data.append(store)
        executable = el.get("isExecutable")
        return Process(
            **base,
            is_executable=None if executable is None else bool_attr(el, "isExecutable", False),
            nodes=frozen_map(nodes),
            flows=frozen_map({f.id: f for f in parts.flows}),
            lanes=tuple(parts.lanes),
            data=tuple(data),
            version_tag=vendor.version_tag(el, base["extensions"]),
            associations=tuple(parts.associations),
        )

    def _container(self, el: etree._Element, parts: _ProcessParts, parent: str | None) -> None:
        for child in el:
            local = bpmn_local(child)
            if local is None:
                continue
            kind = _NODE_KINDS.get(local)
            if kind is not None:
                node = self._node(child, kind, parent, parts)
                parts.nodes.append(node)
                if kind in SUBPROCESS_KINDS:
                    self._container(child, parts, node["id"])
            elif local == "sequenceFlow":
                parts.flows.append(self._flow(child))
            elif local == "laneSet":
                parts.lanes.extend(self._lane_set(child, None))
            elif local in _DATA_KINDS:
                parts.data.append(self._data(child, local, parent))
            elif local == "association":
                # not checked as references: an association may join a text annotation
                source, target = ref_id(child.get("sourceRef")), ref_id(child.get("targetRef"))
                if source and target:
                    parts.associations.append((source, target))

    def _flow(self, el: etree._Element) -> SequenceFlow:
        base = self._base(el, synthesize_id=True)
        owner = base["id"]
        source = self._ref(el, "sourceRef", owner)
        target = self._ref(el, "targetRef", owner)
        for attr, value in (("sourceRef", source), ("targetRef", target)):
            if not value:
                self._problem(base["line"], owner, f"Expected a {attr}, but the flow has none")
        condition = None
        for child in el:
            if bpmn_local(child) == "conditionExpression":
                expr = formal_expression(child, self.language)
                # An empty condition is no condition: Camunda Modeler writes one when cleared.
                condition = expr if expr.text else None
        return SequenceFlow(**base, source=source or "", target=target or "", condition=condition)

    def _lane_set(self, el: etree._Element, parent: str | None) -> list[Lane]:
        lanes: list[Lane] = []
        for lane_el in el:
            if bpmn_local(lane_el) != "lane":
                continue
            base = self._base(lane_el)
            refs: list[str] = []
            children: list[Lane] = []
            for child in lane_el:
                local = bpmn_local(child)
                if local == "flowNodeRef":
                    ref = self._ref_text(child, "flowNodeRef", base["id"])
                    if ref:
                        refs.append(ref)
                elif local == "childLaneSet":
                    children.extend(self._lane_set(child, base["id"]))
            lanes.append(
                Lane(**base, flow_node_refs=tuple(refs), child_lanes=tuple(children), parent=parent,
                     persona=vendor.lane_persona(lane_el, base["attrs"]))
            )
        return lanes

    def _data(self, el: etree._Element, kind: str, parent: str | None) -> DataObject:
        return DataObject(
            **self._base(el),
            kind=kind,
            item_subject_ref=ref_id(el.get("itemSubjectRef")),
            is_collection=bool_attr(el, "isCollection", False),
            ref=ref_id(el.get("dataObjectRef") or el.get("dataStoreRef")),
            parent=parent,
        )

    # -- flow nodes -----------------------------------------------------------------------

    def _node(
        self, el: etree._Element, kind: NodeKind, parent: str | None, parts: _ProcessParts
    ) -> dict[str, Any]:
        kw = self._base(el, synthesize_id=True)
        node_id: str = kw["id"]
        extensions = kw["extensions"]
        kw["kind"] = kind
        kw["parent"] = parent
        event_defs: list[EventDefinition] = []
        performers: list[tuple[str, str]] = []
        script_el: etree._Element | None = None
        for child in el:
            local = bpmn_local(child)
            if local is None:
                continue
            if local in _EVENT_KINDS:
                event_defs.append(self._event_definition(child, _EVENT_KINDS[local], node_id))
            elif local == "eventDefinitionRef":
                ref = self._ref_text(child, "eventDefinitionRef", node_id)
                shared = self._shared_event_def(ref or "", node_id)
                if shared is not None:
                    event_defs.append(shared)
            elif local == "standardLoopCharacteristics":
                kw["loop"] = self._standard_loop(child, node_id)
            elif local == "multiInstanceLoopCharacteristics":
                kw["loop"] = self._multi_instance(child, node_id)
            elif local == "script":
                script_el = child
            elif local == "property":
                parts.data.append(self._data(child, local, node_id))
            elif local in _RESOURCE_ROLES:
                performers.append((local, _resource_expression(child)))
            elif local == "activationCondition" and kind is NodeKind.COMPLEX_GATEWAY:
                kw["activation_condition"] = formal_expression(child, self.language)
            elif local == "completionCondition" and kind is NodeKind.AD_HOC_SUB_PROCESS:
                kw["completion_condition"] = formal_expression(child, self.language)
        kw["event_definitions"] = tuple(event_defs)
        global_task = self._called_global_task(el, kind)
        if global_task is not None:
            # BPMN 10.3.6: a call activity that calls a global task runs that task in its
            # place, with the call activity's id, flows, loop and boundary events
            el, kind = global_task, _GLOBAL_TASKS[bpmn_local(global_task) or ""]
            kw["kind"] = kind
            extensions = extensions_of(el, self.prefixes)
            script_el = next((c for c in el if bpmn_local(c) == "script"), None)
            performers.extend((bpmn_local(c) or "", _resource_expression(c)) for c in el
                              if bpmn_local(c) in _RESOURCE_ROLES)
        if performers:
            kw["performers"] = tuple(performers)
        kw.update(self._kind_fields(el, kind, node_id, extensions, script_el))
        # after the kind's fields: `laneway:retries` wins over Zeebe's task definition
        kw.update(vendor.node_fields(el, kind, kw["attrs"], extensions))
        return kw

    def _called_global_task(self, el: etree._Element, kind: NodeKind) -> etree._Element | None:
        """The global task of this file a call activity names, if it names one."""
        if kind is not NodeKind.CALL_ACTIVITY or not self._global_tasks:
            return None
        return self._global_tasks.get((el.get("calledElement") or "").strip())

    def _kind_fields(
        self,
        el: etree._Element,
        kind: NodeKind,
        node_id: str,
        extensions: tuple[ExtensionElement, ...],
        script_el: etree._Element | None,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if el.get("default") is not None:
            out["default_flow"] = self._ref(el, "default", node_id)
        if kind in ACTIVITY_KINDS:
            out["is_for_compensation"] = bool_attr(el, "isForCompensation", False)
            io = vendor.io_mapping(extensions, self.language)
            if io is not None:
                out["io"] = io
            out["start_quantity"] = _quantity(el.get("startQuantity"))
            out["completion_quantity"] = _quantity(el.get("completionQuantity"))
        script_is_feel = False
        if kind is NodeKind.SCRIPT_TASK:
            out.update(vendor.script_fields(el, extensions, script_el))
            # FEEL and JavaScript run in the engine: no default 'script' job type for them
            script_is_feel = normalize_language(out.get("script_format")) in (
                "feel", "javascript")
        elif kind in (NodeKind.SERVICE_TASK, NodeKind.BUSINESS_RULE_TASK, NodeKind.SEND_TASK):
            result = vendor.result_variable(el, extensions)
            if result is not None:
                out["result_variable"] = result
        if kind in _JOB_KINDS:
            out.update(vendor.job_fields(el, kind, extensions, script_is_feel))
        if kind in (NodeKind.SEND_TASK, NodeKind.RECEIVE_TASK):
            out["message_ref"] = self._ref(el, "messageRef", node_id)
        if kind in (NodeKind.RECEIVE_TASK, NodeKind.EVENT_BASED_GATEWAY):
            out["instantiate"] = bool_attr(el, "instantiate", False)
        if kind is NodeKind.BOUNDARY_EVENT:
            out["attached_to"] = self._ref(el, "attachedToRef", node_id)
            out["cancel_activity"] = bool_attr(el, "cancelActivity", True)
            out["parallel_multiple"] = bool_attr(el, "parallelMultiple", False)
        elif kind is NodeKind.START_EVENT:
            out["interrupting"] = bool_attr(el, "isInterrupting", True)
            out["parallel_multiple"] = bool_attr(el, "parallelMultiple", False)
        elif kind is NodeKind.INTERMEDIATE_CATCH_EVENT:
            out["parallel_multiple"] = bool_attr(el, "parallelMultiple", False)
        elif kind in SUBPROCESS_KINDS:
            out["triggered_by_event"] = bool_attr(el, "triggeredByEvent", False)
            if kind is NodeKind.AD_HOC_SUB_PROCESS:
                ordering = (el.get("ordering") or "").strip()
                out["ordering"] = "Sequential" if ordering == "Sequential" else "Parallel"
                out["cancel_remaining"] = bool_attr(el, "cancelRemainingInstances", True)
        elif kind is NodeKind.CALL_ACTIVITY:
            out.update(vendor.call_fields(el, extensions))
        if kind.value.endswith("Gateway"):
            out["gateway_direction"] = el.get("gatewayDirection")
            out["event_gateway_type"] = el.get("eventGatewayType")
        return out

    def _event_definition(self, el: etree._Element, kind: EventKind, owner: str) -> EventDefinition:
        kw: dict[str, Any] = {"kind": kind, "id": el.get("id"), "line": line_of(el)}
        attr = _REF_ATTRS.get(kind)
        if attr is not None:
            kw["ref"] = self._ref(el, attr, owner)
        if kind is EventKind.TIMER:
            for child in el:
                timer_kind = _TIMER_KINDS.get(bpmn_local(child) or "")
                if timer_kind is not None:
                    kw["timer"] = TimerDefinition(
                        timer_kind, formal_expression(child, self.language)
                    )
        elif kind is EventKind.LINK:
            kw["link_name"] = el.get("name")
        elif kind is EventKind.TERMINATE:
            terminate_all = vendor.c7_attr(el, "terminateAll")
            kw["terminate_all"] = (terminate_all or "").strip().lower() == "true"
        elif kind is EventKind.COMPENSATE:
            kw["wait_for_completion"] = bool_attr(el, "waitForCompletion", True)
        elif kind is EventKind.CONDITIONAL:
            for child in el:
                if bpmn_local(child) == "condition":
                    kw["condition"] = formal_expression(child, self.language)
        return EventDefinition(**kw)

    def _shared_event_def(self, ref: str, owner: str) -> EventDefinition | None:
        """A definitions-level event definition that `owner` refers to, read once however many
        nodes refer to it (read per reference, a large one referred to by every node cost
        its size times theirs, in time and in memory)."""
        read = self._read_event_defs.get(ref)
        if read is None:
            target = self._root_event_defs.get(ref)
            if target is None:
                return None
            read = self._event_definition(target, _EVENT_KINDS[bpmn_local(target) or ""], owner)
            self._read_event_defs[ref] = read
        return read

    def _standard_loop(self, el: etree._Element, owner: str) -> LoopCharacteristics:
        kw: dict[str, Any] = {
            "multi_instance": False,
            "test_before": bool_attr(el, "testBefore", False),
            "line": line_of(el),
        }
        maximum = el.get("loopMaximum")
        if maximum is not None:
            try:
                kw["loop_maximum"] = int(maximum.strip())
            except ValueError:
                self._problem(
                    kw["line"],
                    owner,
                    f"Expected loopMaximum to be an integer, but it is {maximum!r}",
                )
        for child in el:
            if bpmn_local(child) == "loopCondition":
                kw["loop_condition"] = formal_expression(child, self.language)
        return LoopCharacteristics(**kw)

    def _multi_instance(self, el: etree._Element, owner: str) -> LoopCharacteristics:
        line = line_of(el)
        kw: dict[str, Any] = {
            "multi_instance": True,
            "sequential": bool_attr(el, "isSequential", False),
            "line": line,
        }
        behavior = (el.get("behavior") or "All").strip()
        if behavior not in ("None", "One", "Complex", "All"):
            self._problem(line, owner, f"Expected behavior None, One, Complex or All, but it "
                                       f"is {behavior[:40]!r}")
        kw["behavior"] = behavior
        for attr, field_name in (("noneBehaviorEventRef", "none_behavior_event"),
                                 ("oneBehaviorEventRef", "one_behavior_event")):
            ref = ref_id(el.get(attr))
            if ref:
                self._refs.append((ref, attr, line, owner))
                kw[field_name] = self._shared_event_def(ref, owner)
        complex_behaviors = []
        for child in el:
            local = bpmn_local(child)
            if local == "complexBehaviorDefinition":
                complex_behaviors.append(self._complex_behavior(child, owner))
            elif local == "loopCardinality":
                kw["cardinality"] = formal_expression(child, self.language)
            elif local == "completionCondition":
                kw["completion_condition"] = formal_expression(child, self.language)
            elif local == "loopDataInputRef":
                raw = element_text(child)
                kw["collection"] = Expression(raw.strip(), raw, None, line_of(child))
            elif local == "inputDataItem":
                kw["element_variable"] = child.get("name") or child.get("id")
            elif local == "loopDataOutputRef":
                kw["output_collection"] = element_text(child).strip() or None
            elif local == "outputDataItem":
                name = child.get("name") or child.get("id") or ""
                kw["output_element"] = Expression(name, name, None, line_of(child))
        kw["complex_behaviors"] = tuple(complex_behaviors)
        kw.update(vendor.multi_instance_fields(
            el, extensions_of(el, self.prefixes), self.language))
        return LoopCharacteristics(**kw)

    def _complex_behavior(self, el: etree._Element, owner: str) -> ComplexBehaviorDefinition:
        """A `complexBehaviorDefinition`: its condition and the event definition of its
        implicit throw event (written inside it, or named by `eventDefinitionRef`)."""
        condition: Expression | None = None
        event: EventDefinition | None = None
        for child in el:
            local = bpmn_local(child)
            if local == "condition":
                condition = formal_expression(child, self.language)
            elif local == "event":
                for part in child:
                    name = bpmn_local(part)
                    if name in _EVENT_KINDS and event is None:
                        event = self._event_definition(part, _EVENT_KINDS[name], owner)
                    elif name == "eventDefinitionRef" and event is None:
                        ref = self._ref_text(part, "eventDefinitionRef", owner)
                        event = self._shared_event_def(ref or "", owner)
        return ComplexBehaviorDefinition(condition, event)

def _quantity(text: str | None) -> int:
    """An activity's `startQuantity` or `completionQuantity` (1 when not written); text that
    is no whole number reads 0, which the deploy check refuses with the element's line."""
    if text is None:
        return 1
    try:
        return int(text.strip())
    except ValueError:
        return 0
