"""Mappings of Camunda 8 (Zeebe), Camunda 7 (and its Activiti/Flowable relatives) extensions.

Only where the meaning is clear: a Zeebe task type names the job type, a Zeebe or Camunda 7
input/output mapping becomes an IoMapping, and so on. Everything stays in `attrs`/`extensions`
too, so whoever needs more reads it there.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from laneway.bpmn._common import find_extension
from laneway.bpmn._expressions import element_text, make_expression
from laneway.bpmn._xml import CAMUNDA_NS, LANEWAY_NS, ZEEBE_NS, line_of
from laneway.model import Expression, ExtensionElement, IoMapping, NodeKind
from laneway.model._elements import frozen_map

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
                    _expr(m.attributes.get("source", ""), default_language, m.line),
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
                (_expr(p.text or "", default_language, p.line), p.attributes.get("name", ""))
                for p in c7.find_all("inputParameter")
            ),
            outputs=tuple(
                (_expr(p.text or "", default_language, p.line), p.attributes.get("name", ""))
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
