"""Frozen dataclasses for the BPMN 2.0 semantic model.

One `FlowNode` class serves every flow node kind, told apart by `kind`: the engine dispatches on
`kind` to one processor per element type, and the fields a kind does not use stay empty. Mappings
are read-only views (`types.MappingProxyType`) so a definition shared by many instances cannot be
changed by one of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")

_EMPTY: Mapping[str, str] = MappingProxyType({})


def frozen_map(items: Mapping[K, V] | None = None) -> Mapping[K, V]:
    """A read-only copy of `items`."""
    return MappingProxyType(dict(items or {}))


class NodeKind(StrEnum):
    """The BPMN element (local tag name) a flow node was read from."""

    START_EVENT = "startEvent"
    END_EVENT = "endEvent"
    INTERMEDIATE_CATCH_EVENT = "intermediateCatchEvent"
    INTERMEDIATE_THROW_EVENT = "intermediateThrowEvent"
    BOUNDARY_EVENT = "boundaryEvent"
    TASK = "task"
    USER_TASK = "userTask"
    SERVICE_TASK = "serviceTask"
    SCRIPT_TASK = "scriptTask"
    SEND_TASK = "sendTask"
    RECEIVE_TASK = "receiveTask"
    MANUAL_TASK = "manualTask"
    BUSINESS_RULE_TASK = "businessRuleTask"
    EXCLUSIVE_GATEWAY = "exclusiveGateway"
    PARALLEL_GATEWAY = "parallelGateway"
    INCLUSIVE_GATEWAY = "inclusiveGateway"
    EVENT_BASED_GATEWAY = "eventBasedGateway"
    COMPLEX_GATEWAY = "complexGateway"
    SUB_PROCESS = "subProcess"
    AD_HOC_SUB_PROCESS = "adHocSubProcess"
    TRANSACTION = "transaction"
    CALL_ACTIVITY = "callActivity"
    CHOREOGRAPHY_TASK = "choreographyTask"
    SUB_CHOREOGRAPHY = "subChoreography"
    CALL_CHOREOGRAPHY = "callChoreography"


ACTIVITY_KINDS = frozenset(
    {
        NodeKind.TASK,
        NodeKind.USER_TASK,
        NodeKind.SERVICE_TASK,
        NodeKind.SCRIPT_TASK,
        NodeKind.SEND_TASK,
        NodeKind.RECEIVE_TASK,
        NodeKind.MANUAL_TASK,
        NodeKind.BUSINESS_RULE_TASK,
        NodeKind.SUB_PROCESS,
        NodeKind.AD_HOC_SUB_PROCESS,
        NodeKind.TRANSACTION,
        NodeKind.CALL_ACTIVITY,
    }
)
GATEWAY_KINDS = frozenset(
    {
        NodeKind.EXCLUSIVE_GATEWAY,
        NodeKind.PARALLEL_GATEWAY,
        NodeKind.INCLUSIVE_GATEWAY,
        NodeKind.EVENT_BASED_GATEWAY,
        NodeKind.COMPLEX_GATEWAY,
    }
)
SUBPROCESS_KINDS = frozenset(
    {NodeKind.SUB_PROCESS, NodeKind.AD_HOC_SUB_PROCESS, NodeKind.TRANSACTION}
)


# values of `laneway:decision` that hand a gateway's choice to a decision handler (a job of
# type `decision`); any other value but the NO_DECISION_MARKS names the connector type that
# decides (`laneway:decision="llm"`: a decision job on `jobs.llm`)
DECISION_MARKS = frozenset({"handler", "job", "true", "yes"})
NO_DECISION_MARKS = frozenset({"", "no", "false", "none"})


class EventKind(StrEnum):
    """Which event definition an event carries (NONE when it has none)."""

    NONE = "none"
    MESSAGE = "message"
    TIMER = "timer"
    SIGNAL = "signal"
    ERROR = "error"
    ESCALATION = "escalation"
    TERMINATE = "terminate"
    LINK = "link"
    COMPENSATE = "compensate"
    CONDITIONAL = "conditional"
    CANCEL = "cancel"


class TimerKind(StrEnum):
    """The three forms of a BPMN timer."""

    DATE = "timeDate"
    DURATION = "timeDuration"
    CYCLE = "timeCycle"


@dataclass(frozen=True, slots=True)
class Expression:
    """An expression as written in the diagram.

    `text` is what the engine evaluates (already stripped of a Camunda 8 leading `=` or a
    JUEL `${...}` wrapper); `raw` is the text exactly as written; `language` is the
    `language` attribute or the dialect recognised from the wrapper (`feel`, `juel`, `python`,
    `javascript`, ...), None when unknown.
    """

    text: str
    raw: str
    language: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class ExtensionElement:
    """A foreign element kept as read (inside `extensionElements` or elsewhere).

    `tag` is Clark notation (`{namespace}local`); `prefix` is the prefix used in the file.
    """

    tag: str
    prefix: str | None
    attributes: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    children: tuple[ExtensionElement, ...] = ()
    text: str | None = None
    line: int = 0

    @property
    def local_name(self) -> str:
        """The tag without its namespace."""
        return self.tag.rsplit("}", 1)[-1]

    @property
    def namespace(self) -> str:
        """The tag's namespace URI ('' when it has none)."""
        return self.tag[1:].split("}", 1)[0] if self.tag.startswith("{") else ""

    def find(self, local_name: str) -> ExtensionElement | None:
        """The first child with this local name."""
        return next((c for c in self.children if c.local_name == local_name), None)

    def find_all(self, local_name: str) -> tuple[ExtensionElement, ...]:
        """Every child with this local name."""
        return tuple(c for c in self.children if c.local_name == local_name)


@dataclass(frozen=True, slots=True, kw_only=True)
class Element:
    """What every BPMN element read from a file has.

    `attrs` is the extension attribute bag: every attribute in a non-BPMN namespace, keyed
    `prefix:name` as written, value untouched. `extensions` are foreign child elements
    (normally the children of `bpmn:extensionElements`), kept as read.
    """

    id: str
    name: str | None = None
    line: int = 0
    attrs: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    extensions: tuple[ExtensionElement, ...] = ()
    documentation: str | None = None

    def extension(self, local_name: str, namespace: str | None = None) -> ExtensionElement | None:
        """The first foreign extension element with this local name (and namespace, if given)."""
        for ext in self.extensions:
            if ext.local_name == local_name and (namespace is None or ext.namespace == namespace):
                return ext
        return None


@dataclass(frozen=True, slots=True)
class TimerDefinition:
    """A timer event definition: one of date, duration or cycle, with its expression."""

    kind: TimerKind
    expression: Expression


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDefinition:
    """One event definition of an event.

    `ref` is the referenced message, signal, error or escalation id (None for a catch-all).
    """

    kind: EventKind
    id: str | None = None
    ref: str | None = None
    timer: TimerDefinition | None = None
    link_name: str | None = None
    condition: Expression | None = None
    # compensation: whether the throw waits until the handlers finished (`waitForCompletion`)
    wait_for_completion: bool = True
    line: int = 0
    #: A terminate end event that ends the whole process instance, not only its scope
    #: (Flowable's and Activiti's `terminateAll="true"` on the terminateEventDefinition).
    terminate_all: bool = False


@dataclass(frozen=True, slots=True)
class ComplexBehaviorDefinition:
    """A multi-instance activity's `complexBehaviorDefinition` (behavior `Complex`): when an
    instance completes and `condition` holds, `event` (the event definition of its implicit
    throw event) is thrown."""

    condition: Expression | None = None
    event: EventDefinition | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopCharacteristics:
    """Standard loop or multi-instance characteristics of an activity.

    For multi-instance, `collection` and `element_variable` come from Camunda 8
    (`zeebe:loopCharacteristics inputCollection/inputElement`), Camunda 7
    (`camunda:collection/elementVariable`) or `loopDataInputRef`/`inputDataItem`.
    """

    multi_instance: bool
    sequential: bool = False
    cardinality: Expression | None = None
    collection: Expression | None = None
    element_variable: str | None = None
    completion_condition: Expression | None = None
    output_collection: str | None = None
    output_element: Expression | None = None
    # what is thrown as instances complete (BPMN 10.3.8): `behavior` None, One, Complex or
    # All; the event definitions `noneBehaviorEventRef` and `oneBehaviorEventRef` name; the
    # complex behavior definitions
    behavior: str = "All"
    none_behavior_event: EventDefinition | None = None
    one_behavior_event: EventDefinition | None = None
    complex_behaviors: tuple[ComplexBehaviorDefinition, ...] = ()
    # standard loop
    loop_condition: Expression | None = None
    test_before: bool = False
    loop_maximum: int | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class IoMapping:
    """Input and output variable mappings: (source expression, target variable name)."""

    inputs: tuple[tuple[Expression, str], ...] = ()
    outputs: tuple[tuple[Expression, str], ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class SequenceFlow(Element):
    """A sequence flow; `condition` is None for an unconditional flow."""

    source: str
    target: str
    condition: Expression | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowNode(Element):
    """Any flow node: event, activity or gateway.

    `parent` is the id of the enclosing (event) subprocess, None at process level.
    Fields a kind does not use stay at their defaults.
    """

    kind: NodeKind
    parent: str | None = None
    incoming: tuple[str, ...] = ()
    outgoing: tuple[str, ...] = ()
    event_definitions: tuple[EventDefinition, ...] = ()
    # gateways and activities
    default_flow: str | None = None
    # activities
    loop: LoopCharacteristics | None = None
    io: IoMapping = field(default_factory=IoMapping)
    is_for_compensation: bool = False
    # BPMN token quantities: the tokens that must arrive before the activity starts, and the
    # tokens it sends on each outgoing flow when it completes (1 when not written)
    start_quantity: int = 1
    completion_quantity: int = 1
    # jobs: service, send, business-rule and (non-FEEL) script tasks
    job_type: str | None = None
    # the retries a job of this node starts with, as written (`laneway:retries`, else Zeebe's
    # task definition); a user task's escalation notification uses it too
    job_retries: str | None = None
    task_headers: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    # script tasks
    script: str | None = None
    script_format: str | None = None
    result_variable: str | None = None
    # send/receive tasks
    message_ref: str | None = None
    instantiate: bool = False
    # boundary events
    attached_to: str | None = None
    cancel_activity: bool = True
    # start events (of event subprocesses)
    interrupting: bool = True
    # catch events with several event definitions: all must happen (True) or any one
    parallel_multiple: bool = False
    # subprocesses
    triggered_by_event: bool = False
    # call activities
    called_element: str | None = None
    propagate_all_child_variables: bool = True
    # lanes: the innermost lane holding this node
    lane: str | None = None
    # BPMN resource roles: (role, formal expression) e.g. ("potentialOwner", "group(sales)")
    performers: tuple[tuple[str, str], ...] = ()
    # gateways
    gateway_direction: str | None = None
    event_gateway_type: str | None = None
    # a gateway marked `laneway:decision="handler"` (or job, true, yes) asks a decision handler
    decision_handler: bool = False
    # `laneway:decision="<connector type>"` (stripped): the decision job's type instead of
    # `decision` (decision_handler is then True too)
    decision_type: str | None = None
    # complex gateways: `activationCondition` (may read `activationCount`); None: the join
    # behaves as an inclusive join
    activation_condition: Expression | None = None
    # ad-hoc subprocesses: `ordering` ("Sequential" or "Parallel", BPMN's default),
    # `cancelRemainingInstances` (BPMN's default true) and `completionCondition`
    ordering: str = "Parallel"
    cancel_remaining: bool = True
    completion_condition: Expression | None = None
    # the form id a start event or user task names: `laneway:form`, Camunda 7
    # `camunda:formKey`, or Camunda 8 `zeebe:formDefinition formKey`/`formId` (stripped); one
    # reading for the engine (USER_TASK_CREATED's `form`) and the form routes
    form: str | None = None
    # a message throw's correlation key (`laneway:correlationKey`), evaluated when it throws
    correlation_key: Expression | None = None
    # user tasks: the assignment as written (`laneway:`, else `camunda:` attributes, else
    # `zeebe:assignmentDefinition`): a literal comma list or an expression evaluated when the
    # task is created
    assignee: str | None = None
    candidate_groups: str | None = None
    candidate_users: str | None = None
    # user tasks: `laneway:slaMinutes` as written (checked at deploy: a positive number) and
    # `laneway:escalationConnector`
    sla_minutes: str | None = None
    escalation_connector: str | None = None

    @property
    def event_kind(self) -> EventKind:
        """The kind of the first event definition (NONE for none events and non-events)."""
        return self.event_definitions[0].kind if self.event_definitions else EventKind.NONE

    @property
    def event_definition(self) -> EventDefinition | None:
        """The first event definition, if any."""
        return self.event_definitions[0] if self.event_definitions else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Lane(Element):
    """A lane: the nodes it holds and the lanes nested in it."""

    flow_node_refs: tuple[str, ...] = ()
    child_lanes: tuple[Lane, ...] = ()
    parent: str | None = None
    # the persona assigned with `laneway:persona`, as written
    persona: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DataObject(Element):
    """A data object, data object reference, data store (reference) or property."""

    kind: str
    item_subject_ref: str | None = None
    is_collection: bool = False
    ref: str | None = None
    parent: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Process(Element):
    """A process: all its flow nodes and sequence flows, flattened.

    `nodes` and `flows` hold the elements of nested subprocesses too; a node's `parent` names
    its subprocess. `lanes` are the top-level lanes of every lane set.
    """

    is_executable: bool | None = None
    nodes: Mapping[str, FlowNode] = field(default_factory=lambda: MappingProxyType({}))
    flows: Mapping[str, SequenceFlow] = field(default_factory=lambda: MappingProxyType({}))
    lanes: tuple[Lane, ...] = ()
    data: tuple[DataObject, ...] = ()
    version_tag: str | None = None
    # (source, target) of every association in the process and its subprocesses: the engine
    # needs those that join a compensation boundary event to its handler
    associations: tuple[tuple[str, str], ...] = ()

    def all_lanes(self) -> tuple[Lane, ...]:
        """Every lane, nested ones included, depth first."""
        out: list[Lane] = []
        stack = list(reversed(self.lanes))
        while stack:
            lane = stack.pop()
            out.append(lane)
            stack.extend(reversed(lane.child_lanes))
        return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Message(Element):
    """A message; `correlation_key` from `zeebe:subscription correlationKey` if given."""

    correlation_key: Expression | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal(Element):
    """A signal (name is what is broadcast)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorDef(Element):
    """A BPMN error; `code` is its errorCode."""

    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EscalationDef(Element):
    """A BPMN escalation; `code` is its escalationCode."""

    code: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Participant(Element):
    """A pool: a participant of a collaboration, usually referencing a process."""

    process_ref: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFlow(Element):
    """A message flow between pools or their elements."""

    source: str
    target: str
    message_ref: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Collaboration(Element):
    """A collaboration: pools and the message flows between them."""

    participants: tuple[Participant, ...] = ()
    message_flows: tuple[MessageFlow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Definitions(Element):
    """A whole BPMN file.

    `source` is the file's bytes as read, `file` its name (for messages); export
    (`laneway.bpmn.export`) starts from `source`, so what the user did not change is
    written back as it was.
    """

    target_namespace: str | None = None
    processes: tuple[Process, ...] = ()
    collaborations: tuple[Collaboration, ...] = ()
    messages: Mapping[str, Message] = field(default_factory=lambda: MappingProxyType({}))
    signals: Mapping[str, Signal] = field(default_factory=lambda: MappingProxyType({}))
    errors: Mapping[str, ErrorDef] = field(default_factory=lambda: MappingProxyType({}))
    escalations: Mapping[str, EscalationDef] = field(default_factory=lambda: MappingProxyType({}))
    namespaces: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    exporter: str | None = None
    #: The engine dialect it is written for: `zeebe`, `camunda7`, `flowable`, `activiti`, or
    #: None for plain BPMN (`laneway.bpmn._dialect` has the rule).
    dialect: str | None = None
    file: str = "<memory>"
    source: bytes = b""

    def process(self, process_id: str | None = None) -> Process:
        """The process with this id, or the only executable (else first) one when None."""
        if process_id is not None:
            for p in self.processes:
                if p.id == process_id:
                    return p
            raise KeyError(f"Expected a process '{process_id}', but the file has none")
        if not self.processes:
            raise KeyError("Expected a process, but the file has none")
        executable = [p for p in self.processes if p.is_executable is not False]
        return (executable or list(self.processes))[0]
