"""Camunda 7 Modeler element templates made from the connectors' and triggers' declared
attributes (laneway/attributes.py): the form a modeler fills in, from the declaration the
deploy checks against.

    laneway templates --out element-templates     # one JSON file per template

A connector's template applies to a task and makes it a service task, fixes `laneway:type`
in a hidden property and shows one field per declared attribute, each bound as an attribute
of the task (`binding: {"type": "property", "name": "laneway:url"}`). A trigger's template
applies to a start event: a Camunda 7 template can only set attributes of the element it is
applied to, never of the `bpmn:message` the start event refers to, so it writes
`laneway:trigger` and the settings on the start event itself, where laneway/triggers/_declared.py
reads them too (the message's win when both say).

No `$schema` is written: the public schema lives on a package host, and the Modeler does not
need it. The files are valid under the Camunda 7 element template schema otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from laneway.attributes import DURATION_PATTERN, Attribute
from laneway.connectors._api import Connector
from laneway.triggers._api import Trigger

__all__ = ["GROUPS", "TEMPLATE_VERSION", "connector_template", "file_name", "render",
           "templates", "trigger_template", "write"]

TEMPLATE_VERSION = 1
"""Bump when a declaration changes what a diagram made with an older template means."""

GROUPS = {
    "settings": "Settings",
    "filter": "Filter",
    "polling": "Polling",
    "security": "Security",
    "result": "Result",
    "errors": "Errors",
    "retries": "Retries and timeout",
}
"""A group id -> its label, in the form's order."""

_SPECIAL = frozenset("\\^$.|?*+()[]{}")
_SECRET_HINT = " Names a secret in the secret store; never the secret itself."


def _summary(cls: type) -> str:
    doc = (cls.__doc__ or "").strip()
    first = " ".join(doc.split("\n\n")[0].split())
    return first.split("; see ")[0].split(" (docs/")[0].rstrip(".") + "." if doc else ""


def _literal(text: str) -> str:
    """`text` matched literally, in a pattern Python and JavaScript read alike."""
    return "".join(f"\\{c}" if c in _SPECIAL else c for c in text)


def _pattern(attribute: Attribute) -> tuple[str, str] | None:
    """A regular expression (and its message) the Modeler checks the value against, for what
    has a syntax; the deploy checks the rest (bounds, JSON)."""
    if attribute.kind == "number":
        digits = r"-?[0-9]+([.][0-9]+)?" if attribute.fraction else r"[0-9]+"
        what = "a number" if attribute.fraction else "a whole number"
        return digits, f"Must be {what}"
    if attribute.kind == "duration":
        return DURATION_PATTERN, "Must be an ISO 8601 duration such as PT30S"
    if attribute.kind == "boolean":
        return "true|false", "Must be true or false"
    if attribute.kind == "choice":
        return ("|".join(_literal(c) for c in attribute.choices),
                f"Must be one of {', '.join(attribute.choices)}")
    return None


def _property(attribute: Attribute) -> dict[str, Any]:
    description = attribute.description.strip()
    if attribute.secret:
        description = (description + "." if description and not description.endswith(".")
                       else description) + _SECRET_HINT
    prop: dict[str, Any] = {"id": attribute.name, "label": attribute.label}
    if description:
        prop["description"] = description.strip()
    constraints: dict[str, Any] = {}
    if attribute.kind == "choice" and attribute.default is not None:
        # a dropdown always writes a value: only where there is a default to start from
        prop["type"] = "Dropdown"
        prop["value"] = attribute.default
        prop["choices"] = [{"name": c, "value": c} for c in attribute.choices]
    elif attribute.kind == "boolean":
        prop["type"] = "Boolean"
        prop["value"] = attribute.default == "true"
    else:
        long = attribute.kind in ("text", "json") or attribute.multiline
        prop["type"] = "Text" if long else "String"
        pattern = _pattern(attribute)
        if pattern is not None:
            regex, message = pattern
            # empty is fine unless required: the default applies
            value = f"^({regex})$" if attribute.required else f"^(|{regex})$"
            constraints["pattern"] = {"value": value, "message": message}
    if attribute.required:
        constraints["notEmpty"] = True
    if constraints:
        prop["constraints"] = constraints
    prop["group"] = attribute.group
    prop["binding"] = {"type": "property", "name": attribute.qualified}
    return prop


def _groups(attributes: Iterable[Attribute]) -> list[dict[str, str]]:
    used = {a.group for a in attributes}
    unknown = used - GROUPS.keys()
    if unknown:
        raise ValueError(f"Expected attribute groups among {', '.join(GROUPS)}, but got "
                         f"{', '.join(sorted(unknown))}")
    return [{"id": g, "label": label} for g, label in GROUPS.items() if g in used]


def _hidden(name: str, value: str) -> dict[str, Any]:
    return {"type": "Hidden", "value": value, "binding": {"type": "property", "name": name}}


def connector_template(connector: Connector) -> dict[str, Any]:
    """The element template of a connector: a service task with `laneway:type` fixed."""
    attributes = connector.attributes
    return {
        "name": f"Laneway {connector.type}",
        "id": f"dev.laneway.connector.{connector.type}",
        "version": TEMPLATE_VERSION,
        "description": _summary(type(connector)),
        "appliesTo": ["bpmn:Task"],
        "elementType": {"value": "bpmn:ServiceTask"},
        "groups": _groups(attributes),
        "properties": [_hidden("laneway:type", connector.type),
                       *(_property(a) for a in attributes)],
    }


def trigger_template(trigger: Trigger) -> dict[str, Any]:
    """The element template of a trigger type: a start event; `laneway:trigger` fixed on it
    (a message start event's), except for `timer`, which is the timer start event itself."""
    attributes = trigger.attributes
    fixed = [] if trigger.type == "timer" else [_hidden("laneway:trigger", trigger.type)]
    kind = "a timer start event" if trigger.type == "timer" else "a message start event"
    return {
        "name": f"Laneway trigger {trigger.type}",
        "id": f"dev.laneway.trigger.{trigger.type}",
        "version": TEMPLATE_VERSION,
        "description": f"{_summary(type(trigger))} Apply to {kind}.".strip(),
        "appliesTo": ["bpmn:StartEvent"],
        "groups": _groups(attributes),
        "properties": [*fixed, *(_property(a) for a in attributes)],
    }


def file_name(template: Mapping[str, Any]) -> str:
    """`laneway-connector-http.json`, `laneway-trigger-feed.json`."""
    return str(template["id"]).removeprefix("dev.").replace(".", "-") + ".json"


def render(template: Mapping[str, Any]) -> str:
    """A template file's text: a JSON array of the one template, as the Modeler reads it."""
    return json.dumps([template], indent=2, ensure_ascii=False) + "\n"


def templates(connectors: Iterable[Connector], triggers: Iterable[Trigger]
              ) -> dict[str, str]:
    """File name -> text, for every connector and trigger type that declares attributes."""
    out: dict[str, str] = {}
    made = [connector_template(c) for c in sorted(connectors, key=lambda c: c.type)
            if c.attributes]
    made += [trigger_template(t) for t in sorted(triggers, key=lambda t: t.type)
             if t.attributes]
    for template in made:
        out[file_name(template)] = render(template)
    return out


def write(directory: Path, files: Mapping[str, str]) -> list[Path]:
    """Write the files into `directory` (made when missing); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
