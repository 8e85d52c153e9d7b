"""Forms: JSON Schema documents that say what a person submits at a start event or user task.

- `check_schema(schema)` lists why a document is not a usable form schema (empty when it is):
  not a JSON Schema of a known draft, or a `$ref` that would need the network.
- `validate(schema, data)` lists what is wrong with a submission, one `FieldError` per
  offending field, with `format` asserted for email, date, date-time and uri (email and
  idn-email strictly: one bare address, `laneway.addresses`).
- `form_of(node)` reads the form id a BPMN node names; `start_form(process)` the one its none
  start event names.

The draft is the schema's `$schema` (Draft 2020-12 when absent). Nothing here ever reaches the
network: references resolve only inside the document, and a schema that points elsewhere is
refused by `check_schema` and fails `validate` with FormSchemaError.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urljoin

from jsonschema import Draft202012Validator, FormatChecker, ValidationError
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from jsonschema.validators import extend, validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import specification_with

from laneway.addresses import is_address
from laneway.model import EventKind, FlowNode, NodeKind, Process
from laneway.regex import RegexError, compile_regex

__all__ = [
    "FieldError",
    "FormSchemaError",
    "check_schema",
    "form_of",
    "start_form",
    "validate",
]

DEFAULT_DRAFT: type[Validator] = Draft202012Validator
"""The draft of a schema without `$schema`."""

# A message quotes the offending value; a pasted novel should not come back whole.
_MAX_MESSAGE = 300


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem of a submission.

    `field` is the path of the offending property: dotted (`applicant.email`) when every step
    is a plain name, a JSON pointer (`/items/0`, `/a.b`) when a step is an array index or a
    name a dot path cannot carry; `""` for the submission as a whole.
    """

    field: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """The JSON form of the 422 answers: `{"field", "message"}`."""
        return {"field": self.field, "message": self.message}


class FormSchemaError(ValueError):
    """The schema itself is unusable (it should have been refused by `check_schema`)."""


# --- reading a node's form ---------------------------------------------------------------------


def form_of(node: FlowNode) -> str | None:
    """The form id a start event or user task names (`FlowNode.form`, which the engine reads
    for USER_TASK_CREATED too); None without."""
    return node.form


def start_form(process: Process) -> str | None:
    """The form of the process's none start event (the one a person starts it from); None
    when that event names none or the process has no none start event at its top level."""
    for node in process.nodes.values():
        if (node.kind is NodeKind.START_EVENT and node.parent is None
                and node.event_kind is EventKind.NONE):
            return form_of(node)
    return None


# --- formats -----------------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})")
# RFC 3986: a scheme, then only URI characters; every % starts an escape
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:"
                  r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")


def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True  # formats only speak about strings
    if not _DATE_TIME.fullmatch(instance):
        return False
    try:
        datetime.fromisoformat(instance.upper().replace("Z", "+00:00"))
    except ValueError:
        return False  # 2025-02-30T..., 25:00:00 and the like
    return True


def _is_uri(instance: object) -> bool:
    return not isinstance(instance, str) or _URI.fullmatch(instance) is not None


def _is_email(instance: object) -> bool:
    return not isinstance(instance, str) or is_address(instance)


def _is_idn_email(instance: object) -> bool:
    return not isinstance(instance, str) or is_address(instance, international=True)


def _format_checker(draft: type[Validator]) -> FormatChecker:
    """The draft's own checkers, plus date-time and uri: jsonschema checks those only with
    optional packages Laneway does not install. email and idn-email are Laneway's own:
    jsonschema's accept any text with an `@`, so `a@x.org, "Boss" <c@z.com>` passed and
    became several recipients of the mail the diagram sends."""
    checker = FormatChecker(())
    checker.checkers = dict(draft.FORMAT_CHECKER.checkers)
    checker.checks("email")(_is_email)
    checker.checks("idn-email")(_is_idn_email)
    if "date-time" not in checker.checkers:
        checker.checks("date-time")(_is_date_time)
    if "uri" not in checker.checkers:
        checker.checks("uri")(_is_uri)
    return checker


# --- checking a schema -------------------------------------------------------------------------


def _draft(schema: Mapping[str, Any]) -> type[Validator] | None:
    # jsonschema's stubs do not admit None as the default, but it is returned as is and
    # tells an unknown $schema apart from a known one
    found: type[Validator] | None = validator_for(schema, default=cast(Any, None))
    if found is None and "$schema" not in schema:
        return DEFAULT_DRAFT
    return found


def check_schema(schema: object) -> list[str]:
    """Why `schema` cannot be a form schema, one line per problem (`/pointer: message`);
    empty when it can."""
    if not isinstance(schema, Mapping):
        return [f"Expected a JSON Schema object, but got {_json_type(schema)}"]
    draft = _draft(schema)
    if draft is None:
        return [f"Expected $schema to name a JSON Schema draft jsonschema knows (for example "
                f"{DEFAULT_DRAFT.META_SCHEMA['$id']}), but got {schema['$schema']!r}"]
    meta = draft(draft.META_SCHEMA, format_checker=draft.FORMAT_CHECKER)
    problems = [f"{_pointer(e.absolute_path) or '/'}: {_short(_clearest(e).message)}"
                for e in meta.iter_errors(schema)]
    if not problems:
        problems.extend(_unresolved_refs(schema, draft))
        problems.extend(_unusable_patterns(schema, ()))
    return problems


def _unusable_patterns(node: object, path: tuple[str | int, ...]) -> Iterator[str]:
    """Patterns RE2 cannot run (backreferences, lookaround): refused at upload rather than
    met by the first submission. Walks the schema as `_refs` does."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                yield from _unusable((*path, key), value)
            elif key == "patternProperties" and isinstance(value, Mapping):
                for name in value:
                    yield from _unusable((*path, key, name), str(name))
            yield from _unusable_patterns(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _unusable_patterns(value, (*path, index))


def _unusable(path: tuple[str | int, ...], pattern: str) -> Iterator[str]:
    try:
        compile_regex(pattern)
    except RegexError as exc:
        yield f"{_pointer(path)}: {exc}"


def _clearest(error: ValidationError) -> ValidationError:
    # an anyOf/oneOf failure of the meta-schema says little; its best branch says more
    return best_match([error]) if error.context else error


def _unresolved_refs(schema: Mapping[str, Any], draft: type[Validator]) -> Iterator[str]:
    """`$ref`s that do not resolve inside the document: remote ones (validating never
    fetches anything) and local ones that point nowhere."""
    resource = specification_with(draft.META_SCHEMA["$id"]).create_resource(schema)
    resolver = Registry().with_resource("", resource).crawl().resolver_with_root(resource)
    for path, base, ref in _refs(schema, (), ""):
        try:
            resolver.lookup(urljoin(base, ref))
        except Unresolvable:
            if ref.startswith("#"):
                yield (f"{_pointer(path)}: Expected {ref!r} to point at a part of the schema, "
                       "but nothing is there")
            else:
                yield (f"{_pointer(path)}: Expected a reference inside the schema "
                       f"(#/$defs/...), but got {ref!r}; forms never load schemas from "
                       "elsewhere: copy it into $defs")


def _refs(node: object, path: tuple[str | int, ...], base: str
          ) -> Iterator[tuple[tuple[str | int, ...], str, str]]:
    """(path, base URI, reference) of every `$ref` (`$dynamicRef`, `$recursiveRef`); the base
    follows the `$id`s on the way down, as a resolver reads them."""
    if isinstance(node, Mapping):
        if isinstance(node.get("$id"), str):
            base = urljoin(base, node["$id"])
        for key, value in node.items():
            if key in ("$ref", "$dynamicRef", "$recursiveRef") and isinstance(value, str):
                yield (*path, key), base, value
            else:
                yield from _refs(value, (*path, key), base)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _refs(value, (*path, index), base)


# --- validating a submission -------------------------------------------------------------------


def _validator(schema: Mapping[str, Any]) -> _Checked:
    draft = _draft(schema)
    if draft is None:
        raise FormSchemaError(f"Expected a known $schema, but got {schema.get('$schema')!r}")
    # An explicit empty registry: jsonschema's default one would fetch remote references
    # over HTTP. The drafts' meta-schemas are still known (jsonschema adds them).
    return _Checked(_linear(draft)(schema, registry=Registry(),
                                   format_checker=_format_checker(draft)))


@functools.cache
def _linear(draft: type[Validator]) -> type[Validator]:
    """The draft with `pattern` and `patternProperties` matched by RE2 (`laneway.regex`):
    jsonschema's own use Python's backtracking `re`, where one anonymous submission of 29
    characters against a common e-mail pattern took 17 s."""
    # jsonschema's `extend` is untyped; it returns a validator class of the draft
    extended: Any = extend(draft, {"pattern": _pattern,  # type: ignore[no-untyped-call]
                                   "patternProperties": _pattern_properties})
    return cast(type[Validator], extended)


def _search(pattern: str, text: str) -> bool:
    try:
        return compile_regex(pattern).search(text) is not None
    except RegexError as exc:
        # checked at upload; a schema stored before that check is unusable, not slow
        raise FormSchemaError(str(exc)) from None


def _pattern(validator: Validator, pattern: Any, instance: Any, schema: Any
             ) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, properties: Any, instance: Any, schema: Any
                        ) -> Iterator[ValidationError]:
    # `validator` is jsonschema's concrete class (`descend` is not on its protocol)
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in properties.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


class _Checked:
    """A validator whose unresolvable references surface as FormSchemaError."""

    def __init__(self, inner: Validator) -> None:
        self._inner = inner

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        try:
            yield from self._inner.iter_errors(instance)
        except Unresolvable as exc:
            raise FormSchemaError(f"Expected every $ref to resolve inside the schema, but "
                                  f"{exc} does not") from None


def validate(schema: Mapping[str, Any], data: Mapping[str, Any]) -> list[FieldError]:
    """What is wrong with `data` under `schema`, one error per offending field, in the order
    the schema finds them; empty when `data` is valid. Raises FormSchemaError when the schema
    itself is unusable."""
    out: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for error in _validator(schema).iter_errors(data):
        for item in _field_errors(error):
            if (item.field, item.message) not in seen:
                seen.add((item.field, item.message))
                out.append(item)
    return out


def _field_errors(error: ValidationError) -> Iterable[FieldError]:
    path = tuple(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, Mapping):
        # jsonschema reports the object that lacks the property; the form wants the property
        return [_missing(path, name) for name in _names(error.validator_value)
                if name not in instance]
    if error.validator == "dependentRequired" and isinstance(instance, Mapping) \
            and isinstance(error.validator_value, Mapping):
        return [FieldError(_field((*path, name)),
                           f"Expected '{name}' because '{trigger}' is given, but it is missing")
                for trigger, names in error.validator_value.items() if trigger in instance
                for name in _names(names) if name not in instance]
    if error.validator == "additionalProperties" and error.validator_value is False \
            and isinstance(instance, Mapping) and isinstance(error.schema, Mapping):
        extras = _additional(instance, error.schema)
        if extras:
            return [FieldError(_field((*path, name)),
                               f"Expected only the fields the form defines, but got '{name}'")
                    for name in extras]
    if error.validator == "format" and error.validator_value in ("email", "idn-email"):
        return [FieldError(_field(path), _short(
            "Expected one e-mail address such as name@example.org (no name in front, no "
            f"second address), but got {instance!r}"))]
    if error.validator == "format":
        return [FieldError(_field(path), _short(f"Expected a valid {error.validator_value}, "
                                                f"but got {instance!r}"))]
    if error.validator == "type":
        wanted = " or ".join(_names(error.validator_value)) \
            if isinstance(error.validator_value, list) else str(error.validator_value)
        return [FieldError(_field(path), f"Expected {wanted}, but got {_json_type(instance)}")]
    return [FieldError(_field(path), _short(error.message))]


def _missing(path: tuple[str | int, ...], name: str) -> FieldError:
    return FieldError(_field((*path, name)), f"Expected '{name}', but it is missing")


def _names(value: object) -> list[str]:
    return [n for n in value if isinstance(n, str)] if isinstance(value, Sequence) else []


def _additional(instance: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    properties = schema.get("properties", {})
    patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
    return [k for k in instance
            if k not in properties and not any(p.search(k) for p in patterns)]


# --- paths -------------------------------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z_$][A-Za-z0-9_\-$]*")


def _field(path: Sequence[str | int]) -> str:
    """`a.b.c` when every step is a plain name, else the JSON pointer `/a/0/c`."""
    if all(isinstance(step, str) and _PLAIN.fullmatch(step) for step in path):
        return ".".join(str(step) for step in path)
    return _pointer(path)


def _pointer(path: Iterable[str | int]) -> str:
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[:_MAX_MESSAGE - 1] + "…"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
