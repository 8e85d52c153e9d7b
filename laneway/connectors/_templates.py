"""Templates: `{{ name }}` and `{{ name.path.0 }}` filled from the job's variables.

Deliberately tiny: a placeholder is a dotted path (names, or list indexes as digits), looked up
in the variables, and nothing else: no expressions, filters, loops or calls, so a diagram
cannot run code in the connector. A string value is inserted as it is, anything else as JSON.
A path that is not there is an error (`TemplateError`), never a silent empty string.

`render_json` fills a template that is itself JSON: placeholders inside its strings are filled
one string at a time, so a value can never break out of its string (no injection), and a
string that is exactly one placeholder (`"{{ order.lines }}"`) takes the value with its type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


class TemplateError(ValueError):
    """A template names a variable that is not there or is malformed. Not retryable: the
    diagram or the variables have to change."""


def lookup(variables: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted `path` (`order.lines.0.sku`) in `variables`."""
    if not _PATH.match(path):
        raise TemplateError(f"Expected a variable path like 'order.id', but got {path!r}")
    value: Any = variables
    walked: list[str] = []
    for part in path.split("."):
        walked.append(part)
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            raise TemplateError(f"Expected variable '{'.'.join(walked)}' for the template, "
                                "but it is not there")
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def render(template: str, variables: Mapping[str, Any],
           check: Callable[[str, Any], None] | None = None) -> str:
    """`template` with every `{{ path }}` replaced by the value's text; `check(path, value)`,
    if given, sees each value first and raises to refuse it (an address field takes one
    address per placeholder)."""
    def fill(match: re.Match[str]) -> str:
        value = lookup(variables, match.group(1))
        if check is not None:
            check(match.group(1), value)
        return _text(value)
    return _PLACEHOLDER.sub(fill, template)


def _fill(node: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(node, str):
        whole = _PLACEHOLDER.fullmatch(node)
        if whole:
            return lookup(variables, whole.group(1))
        return render(node, variables)
    if isinstance(node, list):
        return [_fill(item, variables) for item in node]
    if isinstance(node, dict):
        return {render(k, variables): _fill(v, variables) for k, v in node.items()}
    return node


def render_json(template: str, variables: Mapping[str, Any]) -> Any:
    """Parse `template` as JSON, then fill the placeholders in its strings (keys included).
    Raises `ValueError` (json's) when the template is not JSON."""
    return _fill(json.loads(template), variables)


def render_value(template: str, variables: Mapping[str, Any]) -> tuple[Any, bool]:
    """A body: `(value, True)` when the template is JSON (filled as `render_json`), else
    `(text, False)` with the text filled as `render`."""
    try:
        parsed = json.loads(template)
    except ValueError:
        return render(template, variables), False
    return _fill(parsed, variables), True
