"""Running state: what the engine knows about live instances, changed only by appliers.

A parked instance keeps only its live element instances (tokens and scopes), variables, jobs,
user tasks, timers, subscriptions and incidents. The definition is referenced by process id and
version, never copied, so a waiting instance stays small.
"""

from __future__ import annotations

import functools
from collections.abc import MutableMapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from typing import Any, TypeVar

PROCESS_KIND = "process"
MI_BODY_KIND = "multiInstanceBody"


class InstanceStatus:
    """Instance status values (strings, so they serialise as written)."""

    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"
    INCIDENT = "INCIDENT"


@dataclass(slots=True)
class ElementInstance:
    """A live element: a token at a flow node, or a scope (process, subprocess, MI body)."""

    key: int
    element_id: str
    kind: str
    scope_key: int
    children: int = 0
    loop_counter: int = 0
    # multi-instance body: how many inner instances exist in all, started, completed
    mi_total: int = 0
    mi_started: int = 0
    mi_completed: int = 0
    # a scope whose complex gateways wait for their reset: gateway id -> the incoming flows
    # whose tokens the first phase consumed (processors/complex_gateway.py)
    complex_fired: dict[str, list[str]] | None = None
    # an ad-hoc subprocess: the choices made, how often each inner activity was started, and
    # whether it takes no more choices (processors/adhoc_subprocess.py)
    adhoc_decisions: int = 0
    adhoc_runs: dict[str, int] | None = None
    adhoc_done: bool = False


@dataclass(slots=True)
class Job:
    """Work for a connector (or a decision handler) that the element waits on."""

    key: int
    element_key: int
    type: str
    retries: int
    state: str = "ACTIVATABLE"


@dataclass(slots=True)
class UserTask:
    """A task for a person, waiting in the worklist, with what the engine checks before a
    person may claim, unclaim or complete it (the fields have defaults so snapshots written
    before they existed still load)."""

    key: int
    element_key: int
    element_id: str = ""
    # the lane's persona (mapping or `laneway:persona`); None: the lane asks for none
    persona: str | None = None
    # a static assignee (evaluated when the task was created) and who claimed it
    assignee: str | None = None
    claimant: str | None = None
    candidate_users: list[str] = field(default_factory=list)
    candidate_groups: list[str] = field(default_factory=list)
    # epoch milliseconds from `laneway:slaMinutes`; None: no SLA
    due: int | None = None
    escalated: bool = False
    escalation_connector: str | None = None

    @property
    def owner(self) -> str | None:
        """Whoever alone may complete or unclaim it: the claimant, else the assignee."""
        return self.claimant or self.assignee


@dataclass(slots=True)
class Timer:
    """A timer an element waits on; `due` is epoch milliseconds."""

    key: int
    element_key: int
    element_id: str
    due: int
    repetitions: int | None = 1
    fired: int = 0
    expression: str = ""
    timer_kind: str = ""


@dataclass(slots=True)
class Subscription:
    """A message or signal subscription of an element (a catch event, boundary, event
    subprocess start or event-based gateway target)."""

    key: int
    element_key: int
    element_id: str
    name: str
    correlation_key: str = ""


@dataclass(slots=True)
class Incident:
    """Something the engine cannot get past without help; the element stays where it is."""

    key: int
    element_key: int
    error_type: str
    message: str
    job_key: int = 0
    # where to pick up again when it is resolved: "activate", "complete" or "job"
    stage: str = "activate"


@dataclass(slots=True)
class ParentRef:
    """The call activity that started this instance."""

    instance_id: str
    element_key: int
    # how many call activities up the root instance is (the parent's depth + 1; a snapshot
    # written before depths were kept reads 0): bounded by `Limits.max_call_depth`
    depth: int = 0


@dataclass(slots=True)
class CompensationSub:
    """An activity that completed and may still be compensated (BPMN 13.5.7), in the scope it
    ran in: its local variables when it completed and, for a subprocess or a multi-instance
    body, what completed inside it (in the order it completed). In a compensation run,
    `handler` names the handler activity or compensation event subprocess to start for it."""

    key: int
    element_id: str
    kind: str
    variables: dict[str, Any] = field(default_factory=dict)
    inner: list[CompensationSub] = field(default_factory=list)
    handler: str = ""

    @staticmethod
    def from_dict(data: dict[str, Any]) -> CompensationSub:
        """Inverse of its `to_dict` form (`_to_plain`)."""
        return CompensationSub(
            key=data["key"], element_id=data["element_id"], kind=data["kind"],
            variables=dict(data.get("variables", {})),
            inner=[CompensationSub.from_dict(d) for d in data.get("inner", ())],
            handler=data.get("handler", ""))


@dataclass(slots=True)
class CompensationRun:
    """A compensation under way, started by the element `thrower_key` (a compensation throw or
    end event, or a transaction's cancel end event): its handlers run one after another in
    the scope `scope_key`; `handler_key` is the one running now."""

    thrower_key: int
    scope_key: int
    pending: list[CompensationSub] = field(default_factory=list)
    handler_key: int = 0
    wait: bool = True
    # the thrower's element id and kind, for the events written after it completed
    thrower_id: str = ""
    thrower_kind: str = ""

    @staticmethod
    def from_dict(data: dict[str, Any]) -> CompensationRun:
        """Inverse of its `to_dict` form (`_to_plain`)."""
        return CompensationRun(
            thrower_key=data["thrower_key"], scope_key=data["scope_key"],
            pending=[CompensationSub.from_dict(d) for d in data.get("pending", ())],
            handler_key=data.get("handler_key", 0), wait=data.get("wait", True),
            thrower_id=data.get("thrower_id", ""), thrower_kind=data.get("thrower_kind", ""))


@dataclass(slots=True)
class InstanceState:
    """Everything live about one process instance."""

    instance_id: str
    process_id: str
    version: int
    status: str = InstanceStatus.ACTIVE
    business_key: str | None = None
    next_key: int = 1
    elements: dict[int, ElementInstance] = field(default_factory=dict)
    variables: dict[int, dict[str, Any]] = field(default_factory=dict)
    # scope key -> joining gateway id -> the incoming flows taken and not yet consumed
    joins: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    user_tasks: dict[int, UserTask] = field(default_factory=dict)
    timers: dict[int, Timer] = field(default_factory=dict)
    message_subs: dict[int, Subscription] = field(default_factory=dict)
    signal_subs: dict[int, Subscription] = field(default_factory=dict)
    incidents: dict[int, Incident] = field(default_factory=dict)
    parent: ParentRef | None = None
    root_key: int = 0
    # only in diagrams with compensation, and left out of `to_dict` while empty (snapshots
    # and replay logs of every other instance keep the bytes they had): scope key -> its
    # completed compensable activities, in the order they completed; thrower key -> the
    # compensation it started
    compensations: dict[int, list[CompensationSub]] = field(default_factory=dict)
    compensation_runs: dict[int, CompensationRun] = field(default_factory=dict)

    @property
    def effective_status(self) -> str:
        """ACTIVE, COMPLETED or TERMINATED; INCIDENT while an incident is open."""
        if self.status == InstanceStatus.ACTIVE and self.incidents:
            return InstanceStatus.INCIDENT
        return self.status

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: equal states give equal dicts. Every top-level key is there (but
        the compensation fields, only while they hold something);
        in the records below (elements, tasks, timers...) a field at its default is left
        out, and `from_dict` gives it back."""
        return {name: _to_plain(getattr(self, name)) for name in SNAPSHOT_FIELDS
                if name not in _WHEN_USED or getattr(self, name)}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> InstanceState:
        """Inverse of `to_dict`."""
        def ints(d: dict[str, Any], cls: type[T]) -> dict[int, T]:
            gone = _REMOVED.get(cls)
            if gone is None:
                return {int(k): cls(**v) for k, v in d.items()}
            return {int(k): cls(**{f: x for f, x in v.items() if f not in gone})
                    for k, v in d.items()}

        parent = data.get("parent")
        return InstanceState(
            instance_id=data["instance_id"],
            process_id=data["process_id"],
            version=data["version"],
            status=data["status"],
            business_key=data.get("business_key"),
            next_key=data["next_key"],
            elements=ints(data["elements"], ElementInstance),
            variables={int(k): dict(v) for k, v in data["variables"].items()},
            joins={int(k): {g: list(f) for g, f in v.items()} for k, v in data["joins"].items()},
            jobs=ints(data["jobs"], Job),
            user_tasks=ints(data["user_tasks"], UserTask),
            timers=ints(data["timers"], Timer),
            message_subs=ints(data["message_subs"], Subscription),
            signal_subs=ints(data["signal_subs"], Subscription),
            incidents=ints(data["incidents"], Incident),
            parent=ParentRef(**parent) if parent else None,
            root_key=data["root_key"],
            compensations={int(k): [CompensationSub.from_dict(d) for d in v]
                           for k, v in data.get("compensations", {}).items()},
            compensation_runs={int(k): CompensationRun.from_dict(v)
                               for k, v in data.get("compensation_runs", {}).items()},
        )


# top-level fields of an instance that `to_dict` writes only when they hold something
_WHEN_USED = frozenset({"compensations", "compensation_runs"})

T = TypeVar("T")

# Fields the state once had, which snapshots written then may still carry: never set or read,
# they were removed (an element's `interrupted` and `waits`, a subscription's `correlating`).
_REMOVED: dict[type, frozenset[str]] = {
    ElementInstance: frozenset({"interrupted", "waits"}),
    Subscription: frozenset({"correlating"}),
}


def _to_plain(obj: Any) -> Any:
    t = type(obj)
    # the common cases first, by exact type (a snapshot walks every variable): what the
    # general tests below do with them, without `is_dataclass` and `isinstance` for each
    if t is str or t is int or t is bool or t is float or obj is None:
        return obj
    if t is dict:
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if t is list or t is tuple:
        return [_to_plain(v) for v in obj]
    known = _FIELDS.get(t)
    if known is not None:
        return _plain_record(obj, known)
    if is_dataclass(obj) and not isinstance(obj, type):
        return _plain_record(obj, _record_fields(type(obj)))
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_to_plain(v) for v in obj]
    return obj


def _plain_record(obj: Any, known: tuple[tuple[str, bool, Any], ...]) -> dict[str, Any]:
    # a field at its default is left out (its class gives it back): every snapshot on the
    # `state` topic carries the instance's tasks, timers and jobs, most of whose optional
    # fields are unset
    out: dict[str, Any] = {}
    for name, has_default, default in known:
        value = getattr(obj, name)
        if not (has_default and value == default):
            out[name] = _to_plain(value)
    return out


@functools.cache
def _record_fields(cls: type) -> tuple[tuple[str, bool, Any], ...]:
    """(name, has a default, the default) of each field, worked out once per class (this
    runs for every record of every snapshot)."""
    out = []
    for f in fields(cls):
        if f.default is not MISSING:
            out.append((f.name, True, f.default))
        elif f.default_factory is not MISSING:
            out.append((f.name, True, f.default_factory()))
        else:
            out.append((f.name, False, None))
    return tuple(out)


SNAPSHOT_RECORDS: tuple[type, ...] = (ElementInstance, Job, UserTask, Timer, Subscription,
                                      Incident, ParentRef, CompensationSub, CompensationRun)
"""The record classes an instance's `to_dict` holds."""
# their fields, looked up by exact type (a subclass goes through `is_dataclass`)
_FIELDS: dict[type, tuple[tuple[str, bool, Any], ...]] = {
    cls: _record_fields(cls) for cls in SNAPSHOT_RECORDS}
SNAPSHOT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(InstanceState))
"""An instance's fields, in the order `to_dict` writes them."""
SNAPSHOT_WHEN_USED: frozenset[str] = _WHEN_USED
"""Those of them `to_dict` writes only while they hold something."""


def record_fields(cls: type) -> tuple[tuple[str, bool, Any], ...]:
    """(name, has a default, the default) of each field of a state record class, as
    `to_dict` leaves out those at their default."""
    return _record_fields(cls)


@dataclass(slots=True)
class BufferedMessage:
    """A published message kept until it expires, for subscriptions opened later."""

    name: str
    correlation_key: str
    variables: dict[str, Any]
    message_id: str
    expires: int
    # process ids it already started or correlated to: one correlation per process
    correlated: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ProcessSubscription:
    """The message side of an instance's subscription (lives with the message's partition)."""

    instance_id: str
    sub_key: int
    process_id: str


@dataclass(slots=True)
class EngineState:
    """The state one engine owns: its instances and the message and signal indexes.

    With Kafka, a replica owns one of these per partition; in process, one holds everything.
    """

    # a plain dict, or (a restored partition of the engine service) a mapping that keeps
    # instances as their snapshot bytes until read (services/engine/partitions.py)
    instances: MutableMapping[str, InstanceState] = field(default_factory=dict)
    # (message name, correlation key) -> "instance/sub key" -> subscription
    message_subs: dict[tuple[str, str], dict[str, ProcessSubscription]] = field(
        default_factory=dict
    )
    # message id -> buffered message
    messages: dict[str, BufferedMessage] = field(default_factory=dict)
    # signal name -> "instance/sub key" -> (instance id, subscription key)
    signal_subs: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    # instance id -> when it ended (epoch ms), oldest first: instances that ended and left
    # `instances` (the engine service drops them from memory), kept for a retention time so
    # a START_INSTANCE with such an id is refused instead of starting the instance again
    ended: dict[str, int] = field(default_factory=dict)

    def index_signals(self, inst: InstanceState) -> None:
        """Add an instance's signal subscriptions to the signal index (the index is derived:
        the appliers keep it while running; a restore, or putting an instance back, rebuilds
        its part)."""
        for sub in inst.signal_subs.values():
            self.index_signal(sub.name, inst.instance_id, sub.key)

    def index_signal(self, name: str, instance_id: str, key: int) -> None:
        """Add one signal subscription of an instance to the signal index."""
        self.signal_subs.setdefault(name, {})[f"{instance_id}/{key}"] = (instance_id, key)

    def unindex_signals(self, instance_id: str) -> None:
        """Drop an instance from the signal index."""
        prefix = f"{instance_id}/"
        for name in list(self.signal_subs):
            subs = self.signal_subs[name]
            for k in [k for k in subs if k.startswith(prefix)]:
                del subs[k]
            if not subs:
                del self.signal_subs[name]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form of everything, for replay comparisons."""
        return {
            "instances": {k: v.to_dict() for k, v in sorted(self.instances.items())},
            "message_subs": {
                f"{n}\x00{c}": _to_plain(v) for (n, c), v in sorted(self.message_subs.items())
            },
            "messages": _to_plain(dict(sorted(self.messages.items()))),
            "signal_subs": {
                n: {k: list(v) for k, v in sorted(s.items())}
                for n, s in sorted(self.signal_subs.items())
            },
            # only when there are any: in process, ended instances stay in `instances`
            **({"ended": dict(sorted(self.ended.items()))} if self.ended else {}),
        }
