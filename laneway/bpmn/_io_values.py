"""The values of input/output parameters as Camunda 7 and Zeebe write them, as expressions.

Camunda 7 (`camunda:inputParameter` / `camunda:outputParameter`, also in Activiti's and
Flowable's namespaces) writes a parameter's value as
- text: with `${...}` (or `#{...}`) a JUEL expression, or a template such as
  `Hello ${name}!` whose result is a string; without, a static string; empty, null;
- `camunda:list` of `camunda:value`s (or nested lists and maps), `camunda:map` of
  `camunda:entry key="..."`s;
- `camunda:script scriptFormat="..."`: a script; it becomes an expression in the script's
  language (the engine runs JavaScript in its sandbox; any other language is an incident).
  A script kept in an external file (`resource="..."`) becomes an expression of the language
  `SCRIPT_RESOURCE` whose text is the resource's name: nothing reads that file (the deploy
  check refuses it).
Zeebe's `zeebe:input source` is an expression when it starts with `=`, otherwise a static
string (Zeebe since 8.0; an empty source is null). `zeebe:output` sources are always
expressions, as in Zeebe.

Each value becomes one expression of our language (a string literal, a list, a context), so
the engine evaluates it like any other mapping.
"""

from __future__ import annotations

import json

from laneway.bpmn._expressions import make_expression, normalize_language
from laneway.model import Expression, ExtensionElement

#: Nesting of lists and maps inside one parameter (the parser bounds the XML too).
MAX_VALUE_DEPTH = 20

#: The language of a `camunda:script` parameter whose script is an external `resource`.
SCRIPT_RESOURCE = "script-resource"


class _Script(Exception):
    """A `camunda:script` inside a list or map: the whole parameter is that script."""

    def __init__(self, script: ExtensionElement) -> None:
        self.script = script


def string_literal(text: str) -> str:
    """`text` as a string literal of our language (JSON's escapes are ours)."""
    return json.dumps(text, ensure_ascii=False)


def juel_text(text: str) -> str:
    """Camunda 7 text: `${x}` is the expression `x`; a template mixing text and `${...}` is
    a string (a null part writes nothing, as JUEL's composite expressions do); anything else
    is a static string."""
    text = text.strip()
    if not text:
        return "null"
    parts = _template_parts(text)
    if parts is None:
        return string_literal(text)
    if len(parts) == 1 and parts[0][0]:
        return f"({parts[0][1]})"
    pieces = [
        f'get or else(string({body}), "")' if is_expr else string_literal(body)
        for is_expr, body in parts
        if is_expr or body
    ]
    return "(" + " + ".join(pieces) + ")"


def _template_parts(text: str) -> list[tuple[bool, str]] | None:
    """Split `a ${b} c` into [(False, 'a '), (True, 'b'), (False, ' c')]; None without `${`."""
    parts: list[tuple[bool, str]] = []
    i = 0
    found = False
    literal_start = 0
    while i < len(text) - 1:
        if text[i] in "$#" and text[i + 1] == "{":
            depth = 0
            j = i + 1
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j == len(text):
                return None  # unclosed: a static string, as written
            if i > literal_start:
                parts.append((False, text[literal_start:i]))
            parts.append((True, text[i + 2 : j].strip()))
            found = True
            i = literal_start = j + 1
            continue
        i += 1
    if not found:
        return None
    if literal_start < len(text):
        parts.append((False, text[literal_start:]))
    return parts


_STRUCTURES = ("list", "map", "script")


def _value(el: ExtensionElement, depth: int) -> str:
    """The expression text of a parameter, a list's value or a map's entry."""
    if el.local_name in _STRUCTURES:
        return _structure(el, depth)
    for child in el.children:
        if child.local_name in _STRUCTURES:
            return _structure(child, depth)
    return juel_text(el.text or "")


def _structure(el: ExtensionElement, depth: int) -> str:
    if depth >= MAX_VALUE_DEPTH:
        raise ValueError(f"lists and maps nest more than {MAX_VALUE_DEPTH} deep")
    if el.local_name == "script":
        raise _Script(el)
    if el.local_name == "list":
        items = [_value(item, depth + 1) for item in el.children
                 if item.local_name in ("value", *_STRUCTURES)]
        return "[" + ", ".join(items) + "]"
    entries = [
        f"{string_literal(entry.attributes.get('key', ''))}: {_value(entry, depth + 1)}"
        for entry in el.find_all("entry")
    ]
    return "{" + ", ".join(entries) + "}"


def c7_parameter(param: ExtensionElement) -> Expression:
    """A Camunda 7 input or output parameter's value as an expression."""
    raw = (param.text or "").strip()
    try:
        text = _value(param, 0)
    except _Script as found:
        script = found.script
        language = normalize_language(script.attributes.get("scriptFormat")) or "script"
        line = script.line or param.line
        resource = script.attributes.get("resource")
        if resource is not None and not (script.text or "").strip():
            # never a file read: the name is kept only to say what the diagram wanted
            return Expression(resource, resource, SCRIPT_RESOURCE, line)
        source = script.text or ""
        return Expression(source, source, language, line)
    except ValueError as exc:
        # an expression that does not compile: an incident with this message if reached
        return Expression(f"<{exc}>", raw, "juel", param.line)
    parts = _template_parts(raw) if not param.children else None
    if parts is not None and len(parts) == 1 and parts[0][0]:
        # one `${...}`: the expression as written, as any other JUEL expression
        return make_expression(raw, None, None, param.line)
    return Expression(text, raw or text, "juel", param.line)


def zeebe_input(source: str, default_language: str | None, line: int) -> Expression:
    """A `zeebe:input` source: `=expr` an expression, otherwise a static string."""
    stripped = source.strip()
    if stripped.startswith("=") or stripped.startswith(("${", "#{")):
        return make_expression(source, None, default_language, line)
    if not stripped:
        return Expression("null", source, "feel", line)
    return Expression(string_literal(source), source, "feel", line)
