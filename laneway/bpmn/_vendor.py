"""Mappings of Laneway's own attributes and of Camunda 8 (Zeebe), Camunda 7 (and its
Activiti/Flowable relatives) extensions into typed model fields.

Only where the meaning is clear: a Zeebe task type names the job type, a Zeebe or Camunda 7
input/output mapping becomes an IoMapping, `laneway:slaMinutes` a user task's SLA, and so on.
This is the one place that reads a vendor attribute by name: the engine reads the fields.
Everything stays in `attrs`/`extensions` too, so whoever needs more (a connector, the worklist,
a decision handler) reads it there.

Laneway's attributes are found by their namespace URI, whatever prefix binds it, and also
under the literal prefix `laneway:` (bound to any URI), as they always were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from laneway.bpmn._common import find_extension
from laneway.bpmn._expressions import element_text, make_expression
from laneway.bpmn._io_values import c7_parameter, zeebe_input
from laneway.bpmn._xml import CAMUNDA_NS, LANEWAY_NS, ZEEBE_NS, line_of
from laneway.model import Expression, ExtensionElement, IoMapping, NodeKind
from laneway.model._elements import DECISION_MARKS, NO_DECISION_MARKS, frozen_map

ACTIVITI_NS = "http://activiti.org/bpmn"
FLOWABLE_NS = "http://flowable.org/bpmn"
# Camunda 7 grew out of Activiti and Flowable forked it: the same attributes in three namespaces.
C7_NAMESPACES = (CAMUNDA_NS, ACTIVITI_NS, FLOWABLE_NS)

_DEFAULT_JOB_TYPES = {
    NodeKind.SERVICE_TASK: "service",
    NodeKind.SEND_TASK: "send",
    NodeKind.BUSINESS_RULE_TASK: "business-rule",
    NodeKind.SCRIPT_TASK: "script",
}


def c7_attr(el: etree._Element, local: str) -> str | None:
    """A Camunda 7 style attribute, in whichever of the three related namespaces it is written."""
    for ns in C7_NAMESPACES:
        value = el.get(f"{{{ns}}}{local}")
        if value is not None:
            return value
    return None


def laneway_attr(el: etree._Element, attrs: Mapping[str, str], local: str) -> str | None:
    """A Laneway attribute: in Laneway's namespace under any prefix, else written
    `laneway:<local>`."""
    value = el.get(f"{{{LANEWAY_NS}}}{local}")
    return value if value is not None else attrs.get(f"laneway:{local}")


def camunda_attr(el: etree._Element, attrs: Mapping[str, str], local: str) -> str | None:
    """A Camunda 7 attribute the engine maps: in Camunda's namespace under any prefix, else
    written `camunda:<local>` (its Activiti and Flowable relatives are not read here: the
    engine never read them for these)."""
    value = el.get(f"{{{CAMUNDA_NS}}}{local}")
    return value if value is not None else attrs.get(f"camunda:{local}")


def node_fields(
    el: etree._Element,
    kind: NodeKind,
    attrs: Mapping[str, str],
    extensions: tuple[ExtensionElement, ...],
) -> dict[str, Any]:
    """What the engine reads from Laneway's and Camunda's attributes on any flow node: the
    decision mark, the form, the job retries, a thrown message's correlation key, and a user
    task's assignment, SLA and escalation connector."""
    out: dict[str, Any] = {}
    decision = laneway_attr(el, attrs, "decision")
    mark = (decision or "").strip()
    if mark.lower() in DECISION_MARKS:
        out["decision_handler"] = True
    elif mark.lower() not in NO_DECISION_MARKS:
        out["decision_handler"] = True
        out["decision_type"] = mark
    form = laneway_attr(el, attrs, "form") or camunda_attr(el, attrs, "formKey")
    if not form:
        zeebe_form = _any_extension(extensions, "formDefinition")
        if zeebe_form is not None:
            form = zeebe_form.attributes.get("formKey") or zeebe_form.attributes.get("formId")
    form = (form or "").strip()
    if form:
        out["form"] = form
    retries = laneway_attr(el, attrs, "retries")
    if retries:
        out["job_retries"] = retries
    key = laneway_attr(el, attrs, "correlationKey")
    if key is not None:
        # written as every other expression of the project: `caseId`, `=caseId` (Camunda 8's
        # FEEL mark, as in `zeebe:subscription correlationKey`) or `${caseId}`
        out["correlation_key"] = _expr(key, None, line_of(el))
    if kind is NodeKind.USER_TASK:
        out.update(_assignment_fields(el, attrs, extensions))
        sla = laneway_attr(el, attrs, "slaMinutes")
        if sla is not None:
            out["sla_minutes"] = sla
        connector = (laneway_attr(el, attrs, "escalationConnector") or "").strip()
        if connector:
            out["escalation_connector"] = connector
    return out


def _assignment_fields(
    el: etree._Element, attrs: Mapping[str, str], extensions: tuple[ExtensionElement, ...]
) -> dict[str, Any]:
    """A user task's assignment as written: Laneway's, Camunda 7's, then Camunda 8's
    `zeebe:assignmentDefinition`, the first that says anything."""
    zeebe_ext = _any_extension(extensions, "assignmentDefinition")
    zeebe = dict(zeebe_ext.attributes) if zeebe_ext is not None else {}
    out: dict[str, Any] = {}
    for field_name, local in (("assignee", "assignee"), ("candidate_groups", "candidateGroups"),
                              ("candidate_users", "candidateUsers")):
        value = (laneway_attr(el, attrs, local) or camunda_attr(el, attrs, local)
                 or zeebe.get(local))
        if value:
            out[field_name] = value
    return out


def lane_persona(el: etree._Element, attrs: Mapping[str, str]) -> str | None:
    """The persona a lane names (`laneway:persona`), as written."""
    return laneway_attr(el, attrs, "persona")


def _any_extension(extensions: tuple[ExtensionElement, ...], local: str) -> ExtensionElement | None:
    # by local name in any namespace, as the engine always looked these up
    return next((e for e in extensions if e.local_name == local), None)


def _c7_extension(extensions: tuple[ExtensionElement, ...], local: str) -> ExtensionElement | None:
    for ns in C7_NAMESPACES:
        ext = find_extension(extensions, ns, local)
        if ext is not None:
            return ext
    return None


def _zeebe(extensions: tuple[ExtensionElement, ...], local: str) -> ExtensionElement | None:
    return find_extension(extensions, ZEEBE_NS, local)


def _expr(raw: str, default_language: str | None, line: int) -> Expression:
    return make_expression(raw, None, default_language, line)


def job_fields(
    el: etree._Element,
    kind: NodeKind,
    extensions: tuple[ExtensionElement, ...],
    script_is_feel: bool,
) -> dict[str, Any]:
    """job_type, job_retries and task_headers of a node, from Laneway, Zeebe or Camunda 7."""
    out: dict[str, Any] = {}
    task_def = _zeebe(extensions, "taskDefinition")
    job_type = el.get(f"{{{LANEWAY_NS}}}type")
    if job_type is None and task_def is not None:
        job_type = task_def.attributes.get("type")
    if task_def is not None and task_def.attributes.get("retries") is not None:
        out["job_retries"] = task_def.attributes["retries"]
    if job_type is None:
        # An external task names its worker by topic; `type` then only says "external".
        job_type = c7_attr(el, "topic") or c7_attr(el, "type")
    if job_type is None and not (kind is NodeKind.SCRIPT_TASK and script_is_feel):
        job_type = _DEFAULT_JOB_TYPES.get(kind)
    if job_type is not None:
        out["job_type"] = job_type
    headers = _zeebe(extensions, "taskHeaders")
    if headers is not None:
        out["task_headers"] = frozen_map(
            {
                h.attributes.get("key", ""): h.attributes.get("value", "")
                for h in headers.find_all("header")
            }
        )
    return out


def io_mapping(
    extensions: tuple[ExtensionElement, ...], default_language: str | None
) -> IoMapping | None:
    """Input/output mappings from `zeebe:ioMapping` or Camunda 7 `camunda:inputOutput`."""
    zeebe = _zeebe(extensions, "ioMapping")
    if zeebe is not None:
        return IoMapping(
            inputs=tuple(
                (
                    zeebe_input(m.attributes.get("source", ""), default_language, m.line),
                    m.attributes.get("target", ""),
                )
                for m in zeebe.find_all("input")
            ),
            outputs=tuple(
                (
                    _expr(m.attributes.get("source", ""), default_language, m.line),
                    m.attributes.get("target", ""),
                )
                for m in zeebe.find_all("output")
            ),
        )
    c7 = _c7_extension(extensions, "inputOutput")
    if c7 is not None:
        return IoMapping(
            inputs=tuple(
                (c7_parameter(p), p.attributes.get("name", ""))
                for p in c7.find_all("inputParameter")
            ),
            outputs=tuple(
                (c7_parameter(p), p.attributes.get("name", ""))
                for p in c7.find_all("outputParameter")
            ),
        )
    return None


def script_fields(
    el: etree._Element,
    extensions: tuple[ExtensionElement, ...],
    script_el: etree._Element | None,
) -> dict[str, Any]:
    """script, script_format and result_variable of a script task (BPMN, Zeebe or Camunda 7)."""
    out: dict[str, Any] = {}
    zeebe = _zeebe(extensions, "script")
    if zeebe is not None and zeebe.attributes.get("expression") is not None:
        raw = zeebe.attributes["expression"].strip()
        out["script"] = raw[1:].strip() if raw.startswith("=") else raw
        out["script_format"] = "feel"
        out["result_variable"] = zeebe.attributes.get("resultVariable")
        return out
    if script_el is not None:
        out["script"] = element_text(script_el)
    fmt = el.get("scriptFormat")
    if fmt is not None:
        out["script_format"] = fmt
    result = c7_attr(el, "resultVariable")
    if result is not None:
        out["result_variable"] = result
    return out


def result_variable(el: etree._Element, extensions: tuple[ExtensionElement, ...]) -> str | None:
    """The variable a service or business-rule task writes its result to."""
    decision = _zeebe(extensions, "calledDecision")
    if decision is not None and decision.attributes.get("resultVariable"):
        return decision.attributes["resultVariable"]
    return c7_attr(el, "resultVariable")


def call_fields(el: etree._Element, extensions: tuple[ExtensionElement, ...]) -> dict[str, Any]:
    """called_element and propagate_all_child_variables of a call activity."""
    out: dict[str, Any] = {"called_element": el.get("calledElement")}
    zeebe = _zeebe(extensions, "calledElement")
    if zeebe is not None:
        if zeebe.attributes.get("processId"):
            out["called_element"] = zeebe.attributes["processId"]
        propagate = zeebe.attributes.get("propagateAllChildVariables")
        if propagate is not None:
            out["propagate_all_child_variables"] = propagate.strip().lower() != "false"
    return out


def multi_instance_fields(
    el: etree._Element,
    extensions: tuple[ExtensionElement, ...],
    default_language: str | None,
) -> dict[str, Any]:
    """Collection, element and output of a multi-instance from Zeebe or Camunda 7 extensions."""
    out: dict[str, Any] = {}
    zeebe = _zeebe(extensions, "loopCharacteristics")
    if zeebe is not None:
        attrs = zeebe.attributes
        if attrs.get("inputCollection"):
            out["collection"] = _expr(attrs["inputCollection"], default_language, zeebe.line)
        if attrs.get("inputElement"):
            out["element_variable"] = attrs["inputElement"]
        if attrs.get("outputCollection"):
            out["output_collection"] = attrs["outputCollection"]
        if attrs.get("outputElement"):
            out["output_element"] = _expr(attrs["outputElement"], default_language, zeebe.line)
        return out
    collection = c7_attr(el, "collection")
    if collection is not None:
        out["collection"] = _expr(collection, default_language, line_of(el))
    element = c7_attr(el, "elementVariable")
    if element is not None:
        out["element_variable"] = element
    return out


def correlation_key(
    extensions: tuple[ExtensionElement, ...], default_language: str | None
) -> Expression | None:
    """A message's correlation key from `zeebe:subscription correlationKey`."""
    sub = _zeebe(extensions, "subscription")
    if sub is None or sub.attributes.get("correlationKey") is None:
        return None
    return _expr(sub.attributes["correlationKey"], default_language, sub.line)


def version_tag(el: etree._Element, extensions: tuple[ExtensionElement, ...]) -> str | None:
    """A process's version tag: `camunda:versionTag` or `zeebe:versionTag value`."""
    tag = c7_attr(el, "versionTag")
    if tag is not None:
        return tag
    zeebe = _zeebe(extensions, "versionTag")
    return zeebe.attributes.get("value") if zeebe is not None else None
