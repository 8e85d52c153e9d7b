"""The triggers a diagram declares, and their check at deploy.

A process starts itself from a timer start event, or from a message start event whose
`<bpmn:message>` names a trigger type:

    <bpmn:message id="Msg_News" name="news" laneway:trigger="feed"
                  laneway:url="https://example.org/news.xml" laneway:interval="PT5M"/>

The in-concert engine's spelling, `tri:connectorType="feed"` with `tri:` settings, is read
too. When the message names no type, `laneway:trigger` on the message start event itself does
(where a Camunda 7 element template, which cannot reach the message, writes it).
The type's settings are every attribute of the message in the Laneway namespace (under
any prefix) or with the literal prefix `laneway:` or `tri:`, by local name. A timer start event
is the `timer` type; its settings are the start event's own Laneway attributes
(`laneway:missed`, `laneway:timezone`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

import isodate

from laneway.attributes import problems as declared_problems
from laneway.bpmn._xml import LANEWAY_NS
from laneway.model import Definitions, EventKind, FlowNode, NodeKind, Process
from laneway.problems import Problem
from laneway.triggers._api import INITIAL_POLICIES
from laneway.triggers._registry import DiscoveredTriggers, installed_triggers

__all__ = ["Declared", "check_triggers", "declared_triggers", "schedule_id"]

_SETTING_PREFIXES = ("laneway", "tri")
_TYPE_SETTINGS = ("trigger", "connectorType")
# the schedule ids' namespace: a fixed UUID, so every replica derives the same id
_SCHEDULES = uuid5(NAMESPACE_URL, "https://laneway.dev/schedules")
MIN_INTERVAL_MS = 1_000
_ABOUT = re.compile(r"Expected laneway:([A-Za-z0-9_-]+)\b")
MAX_INTERVAL_MS = 31 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class Declared:
    """One trigger declared on a process's start event."""

    process_id: str
    start_event_id: str
    type: str
    settings: Mapping[str, str]
    """By local name (`url`, `interval`), the type setting itself left out."""
    attributes: Mapping[str, str]
    """The raw extension attributes of the message and the start event, keyed as written."""
    timer: tuple[str, str] | None
    """A timer start event's (kind, expression as written)."""
    line: int
    """The start event's line, for problems."""

    @property
    def schedule_id(self) -> str:
        return schedule_id(self.process_id, self.start_event_id)


def schedule_id(process_id: str, start_event_id: str) -> str:
    """The schedule's id: the same for every version of the process and on every replica."""
    return str(uuid5(_SCHEDULES, f"{process_id}\n{start_event_id}"))


def instance_id(schedule: str, dedup_key: str) -> str:
    """The instance id an item starts: derived from (schedule, dedup key), so an item seen
    twice (a crash before the cursor was saved, two replicas) starts one instance."""
    return str(uuid5(UUID(schedule), dedup_key))


def _settings(attrs: Mapping[str, str], namespaces: Mapping[str, str]) -> dict[str, str]:
    prefixes = set(_SETTING_PREFIXES) | {p for p, uri in namespaces.items() if uri == LANEWAY_NS}
    out: dict[str, str] = {}
    for name, value in attrs.items():
        prefix, sep, local = name.partition(":")
        if sep and prefix in prefixes and local:
            out.setdefault(local, value)
    return out


def _process_starts(process: Process) -> Iterator[FlowNode]:
    for node in process.nodes.values():
        if node.kind == NodeKind.START_EVENT and node.parent is None:
            yield node
        elif (node.kind == NodeKind.EVENT_BASED_GATEWAY and node.instantiate
              and not node.incoming and node.parent is None):
            # a timer after an event-based gateway that instantiates starts the process there
            # (BPMN 10.5.6), as a timer start event does; the engine passes the gateway
            for fid in node.outgoing:
                target = process.nodes.get(process.flows[fid].target) \
                    if fid in process.flows else None
                if (target is not None and target.kind == NodeKind.INTERMEDIATE_CATCH_EVENT
                        and target.event_kind == EventKind.TIMER):
                    yield target


def declared_triggers(definitions: Definitions) -> list[Declared]:
    """Every trigger the file's executable processes declare, in file order."""
    out: list[Declared] = []
    for process in definitions.processes:
        if process.is_executable is False:
            continue
        for node in _process_starts(process):
            found = _declared(definitions, process, node)
            if found is not None:
                out.append(found)
    return sorted(out, key=lambda d: (d.line, d.start_event_id))


def _declared(definitions: Definitions, process: Process, node: FlowNode) -> Declared | None:
    ed = node.event_definition
    own = _settings(node.attrs, definitions.namespaces)
    if node.event_kind == EventKind.TIMER and ed is not None:
        timer = (ed.timer.kind.value, ed.timer.expression.raw) if ed.timer else None
        return Declared(process.id, node.id, "timer", own, dict(node.attrs), timer, node.line)
    if node.event_kind != EventKind.MESSAGE or ed is None:
        return None
    message = definitions.messages.get(ed.ref) if ed.ref is not None else None
    message_attrs = message.attrs if message is not None else {}
    settings = _settings(message_attrs, definitions.namespaces)
    # the type and settings on the message, else on the start event itself: where a Camunda 7
    # element template (laneway templates) can write them, as it cannot reach a bpmn:message
    type_ = next((t for t in (_type_of(settings), _type_of(own)) if t is not None), None)
    if type_ is None:
        return None  # a message start that PUBLISH_MESSAGE starts, as before
    for key, value in own.items():
        settings.setdefault(key, value)
    return Declared(process.id, node.id, type_.strip(), settings,
                    {**message_attrs, **node.attrs}, None, node.line)


def _type_of(settings: dict[str, str]) -> str | None:
    """The trigger type named in `settings` (taken out of them, with its other spelling)."""
    type_ = next((settings[k] for k in _TYPE_SETTINGS if k in settings), None)
    for k in _TYPE_SETTINGS:
        settings.pop(k, None)
    return type_


def interval_ms(text: str) -> int:
    """`laneway:interval` in ms; raises ValueError saying what was expected."""
    try:
        span = isodate.parse_duration(text.strip())
        ms = int(span.total_seconds() * 1000)
    except (isodate.ISO8601Error, ValueError, AttributeError, OverflowError):
        raise ValueError(f"Expected laneway:interval to be an ISO 8601 duration such as "
                         f"'PT1M', but got {text!r}") from None
    if not MIN_INTERVAL_MS <= ms <= MAX_INTERVAL_MS:
        raise ValueError(f"Expected laneway:interval between PT1S and P31D, but got {text!r}")
    return ms


def _generic_problems(declared: Declared) -> Iterator[str]:
    initial = declared.settings.get("initial")
    if initial is not None and initial not in INITIAL_POLICIES:
        yield (f"Expected laneway:initial to be one of {', '.join(INITIAL_POLICIES)}, but got "
               f"{initial!r}")
    interval = declared.settings.get("interval")
    if interval is not None:
        try:
            interval_ms(interval)
        except ValueError as exc:
            yield str(exc)


def _once_per_setting(messages: list[str]) -> Iterator[str]:
    """The messages, but one per setting: the declared check and the type's own `check` may
    both object to one value; the first word stands."""
    said: set[str] = set()
    for message in messages:
        match = _ABOUT.match(message)
        if match is not None:
            if match.group(1) in said:
                continue
            said.add(match.group(1))
        yield message


def check_triggers(definitions: Definitions,
                   installed: DiscoveredTriggers | None = None) -> list[Problem]:
    """What refuses the file's trigger declarations: an unknown type, a setting its type
    refuses (a cron that never falls due, a missing mailbox), each with the start event's id
    and line."""
    found = installed or installed_triggers()
    problems: list[Problem] = []
    for declared in declared_triggers(definitions):
        def problem(message: str, d: Declared = declared) -> Problem:
            return Problem(definitions.file, d.line, d.start_event_id, message)
        trigger = found.triggers.get(declared.type)
        if trigger is None:
            why = found.errors.get(declared.type)
            known = ", ".join(sorted(found.triggers)) or "none"
            problems.append(problem(
                f"Expected a trigger type that is installed ({known}), but got "
                f"{declared.type!r}" + (f" (it failed to load: {why})" if why else "")))
            continue
        messages = [*_generic_problems(declared),
                    *declared_problems(trigger.attributes, declared.settings)]
        try:
            messages.extend(trigger.check(declared.settings))
        except Exception as exc:  # a plugin's check must not turn a deploy into a 500
            messages.append(f"Expected the {declared.type} trigger to check its settings, but "
                            f"it failed: {type(exc).__name__}: {exc}")
        problems.extend(problem(m) for m in _once_per_setting(messages))
    return problems
