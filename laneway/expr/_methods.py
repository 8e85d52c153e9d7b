"""The JUEL bridge: a fixed list of Java methods on strings, lists, maps and numbers.

Camunda 7, Activiti and Flowable write conditions such as `${test.contains("a")}` or
`${order.items.size() > 2}`: JUEL calls Java methods on the values. Here a method call is
looked up by its name in `METHODS`, a table of our own functions; the receiver and arguments
are the language's JSON-like values. Nothing is ever looked up on a Python object: no getattr,
no attribute or method chosen by the expression text reaches Python. An unknown name is a
compile error (`compile_expression`), so a diagram using one is refused at deploy.

The methods keep Java's meaning where it differs from FEEL's functions: positions are 0-based
(`indexOf`, `substring`, `get(i)`, `charAt`), `indexOf` answers -1 when not found, and an index
out of range is an error as Java's exception would be. A null receiver gives null (FEEL's rule
for unknown variables), where Java would throw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from laneway.expr._errors import EvalProblem
from laneway.expr._values import MAX_STRING, equal, is_list, kind, order, to_text


class ReceiverMismatch(Exception):
    """The method does not exist for this kind of value (e.g. `size()` on a number)."""


class MethodArgMismatch(Exception):
    """Argument `index` of a method call is of the wrong type."""

    def __init__(self, index: int, expected: str) -> None:
        self.index = index
        self.expected = expected
        super().__init__(expected)


@dataclass(frozen=True, slots=True)
class Method:
    """A method of the bridge: `impl(receiver, args)` and how many arguments it takes."""

    impl: Callable[[Any, list[Any]], Any]
    least: int
    most: int
    #: The kinds of receiver it is defined for, for messages and the docs.
    receivers: str


METHODS: dict[str, Method] = {}


def _method(
    name: str, least: int, most: int, receivers: str
) -> Callable[[Callable[[Any, list[Any]], Any]], Callable[[Any, list[Any]], Any]]:
    def wrap(impl: Callable[[Any, list[Any]], Any]) -> Callable[[Any, list[Any]], Any]:
        METHODS[name] = Method(impl, least, most, receivers)
        return impl

    return wrap


def _string(args: list[Any], i: int) -> str:
    value = args[i]
    if isinstance(value, str):
        return value
    raise MethodArgMismatch(i, "a string")


def _index(args: list[Any], i: int) -> int:
    value = args[i]
    if kind(value) != "number" or value != int(value):
        raise MethodArgMismatch(i, "a whole number")
    return int(value)


def _out_of_range(at: int, size: int) -> EvalProblem:
    return EvalProblem(f"Index {at} is out of range (the length is {size})")


# --- any value -------------------------------------------------------------------------------


@_method("equals", 1, 1, "any value")
def _equals(receiver: Any, args: list[Any]) -> Any:
    return equal(receiver, args[0])


@_method("toString", 0, 0, "any value")
def _to_string(receiver: Any, args: list[Any]) -> Any:
    return to_text(receiver)


@_method("compareTo", 1, 1, "strings and numbers")
def _compare_to(receiver: Any, args: list[Any]) -> Any:
    if kind(receiver) not in ("string", "number"):
        raise ReceiverMismatch
    if kind(args[0]) != kind(receiver):
        raise MethodArgMismatch(0, "a " + kind(receiver))
    return order(receiver, args[0])


# --- strings ---------------------------------------------------------------------------------


def _text(receiver: Any) -> str:
    if isinstance(receiver, str):
        return receiver
    raise ReceiverMismatch


@_method("equalsIgnoreCase", 1, 1, "strings")
def _equals_ignore_case(receiver: Any, args: list[Any]) -> Any:
    text = _text(receiver)
    other = args[0]
    return isinstance(other, str) and text.casefold() == other.casefold()


@_method("startsWith", 1, 1, "strings")
def _starts_with(receiver: Any, args: list[Any]) -> Any:
    return _text(receiver).startswith(_string(args, 0))


@_method("endsWith", 1, 1, "strings")
def _ends_with(receiver: Any, args: list[Any]) -> Any:
    return _text(receiver).endswith(_string(args, 0))


@_method("length", 0, 0, "strings")
def _length(receiver: Any, args: list[Any]) -> Any:
    return len(_text(receiver))


@_method("substring", 1, 2, "strings")
def _substring(receiver: Any, args: list[Any]) -> Any:
    # Java: substring(begin, end), 0-based, end exclusive; out of range is an error.
    text = _text(receiver)
    begin = _index(args, 0)
    end = _index(args, 1) if len(args) == 2 else len(text)
    if begin < 0 or end > len(text) or begin > end:
        raise EvalProblem(
            f"substring({begin}, {end}) is out of range for a string of length {len(text)}"
        )
    return text[begin:end]


@_method("charAt", 1, 1, "strings")
def _char_at(receiver: Any, args: list[Any]) -> Any:
    text = _text(receiver)
    at = _index(args, 0)
    if not 0 <= at < len(text):
        raise _out_of_range(at, len(text))
    return text[at]


@_method("toUpperCase", 0, 0, "strings")
def _to_upper(receiver: Any, args: list[Any]) -> Any:
    return _text(receiver).upper()


@_method("toLowerCase", 0, 0, "strings")
def _to_lower(receiver: Any, args: list[Any]) -> Any:
    return _text(receiver).lower()


@_method("trim", 0, 0, "strings")
def _trim(receiver: Any, args: list[Any]) -> Any:
    return _text(receiver).strip()


@_method("replace", 2, 2, "strings")
def _replace(receiver: Any, args: list[Any]) -> Any:
    # Java's String.replace(CharSequence, CharSequence): literal text, every occurrence.
    text, old, new = _text(receiver), _string(args, 0), _string(args, 1)
    count = text.count(old) if old else len(text) + 1
    if len(text) + count * (len(new) - len(old)) > MAX_STRING:
        raise EvalProblem(f"String is too long (more than {MAX_STRING} characters)")
    return text.replace(old, new)


# --- strings and lists -----------------------------------------------------------------------


@_method("contains", 1, 1, "strings and lists")
def _contains(receiver: Any, args: list[Any]) -> Any:
    if isinstance(receiver, str):
        return _string(args, 0) in receiver
    if is_list(receiver):
        return any(equal(item, args[0]) for item in receiver)
    raise ReceiverMismatch


def _position(receiver: Any, args: list[Any], last: bool) -> int:
    if isinstance(receiver, str):
        needle = _string(args, 0)
        return receiver.rfind(needle) if last else receiver.find(needle)
    if is_list(receiver):
        positions = [i for i, item in enumerate(receiver) if equal(item, args[0])]
        if not positions:
            return -1
        return positions[-1] if last else positions[0]
    raise ReceiverMismatch


@_method("indexOf", 1, 1, "strings and lists")
def _index_of(receiver: Any, args: list[Any]) -> Any:
    return _position(receiver, args, last=False)


@_method("lastIndexOf", 1, 1, "strings and lists")
def _last_index_of(receiver: Any, args: list[Any]) -> Any:
    return _position(receiver, args, last=True)


@_method("isEmpty", 0, 0, "strings, lists and maps")
def _is_empty(receiver: Any, args: list[Any]) -> Any:
    if isinstance(receiver, str | Mapping) or is_list(receiver):
        return len(receiver) == 0
    raise ReceiverMismatch


# --- lists and maps --------------------------------------------------------------------------


@_method("size", 0, 0, "lists and maps")
def _size(receiver: Any, args: list[Any]) -> Any:
    if isinstance(receiver, Mapping) or is_list(receiver):
        return len(receiver)
    raise ReceiverMismatch


@_method("get", 1, 1, "lists and maps")
def _get(receiver: Any, args: list[Any]) -> Any:
    if isinstance(receiver, Mapping):
        key = args[0]
        return receiver.get(key) if isinstance(key, str) else None
    if is_list(receiver):
        at = _index(args, 0)
        if not 0 <= at < len(receiver):
            raise _out_of_range(at, len(receiver))
        return receiver[at]
    raise ReceiverMismatch


@_method("containsKey", 1, 1, "maps")
def _contains_key(receiver: Any, args: list[Any]) -> Any:
    if isinstance(receiver, Mapping):
        key = args[0]
        return isinstance(key, str) and key in receiver
    raise ReceiverMismatch


@_method("containsValue", 1, 1, "maps")
def _contains_value(receiver: Any, args: list[Any]) -> Any:
    if isinstance(receiver, Mapping):
        return any(equal(value, args[0]) for value in receiver.values())
    raise ReceiverMismatch


# --- numbers and booleans --------------------------------------------------------------------


def _number(receiver: Any) -> Any:
    if kind(receiver) == "number":
        return receiver
    raise ReceiverMismatch


def _whole(receiver: Any, args: list[Any]) -> Any:
    # Java's intValue/longValue truncate towards zero.
    return int(_number(receiver))


def _floating(receiver: Any, args: list[Any]) -> Any:
    value = _number(receiver)
    return float(value) if isinstance(value, Decimal | int) else value


for _name in ("intValue", "longValue", "shortValue"):
    METHODS[_name] = Method(_whole, 0, 0, "numbers")
for _name in ("doubleValue", "floatValue"):
    METHODS[_name] = Method(_floating, 0, 0, "numbers")


@_method("booleanValue", 0, 0, "booleans")
def _boolean_value(receiver: Any, args: list[Any]) -> Any:
    if isinstance(receiver, bool):
        return receiver
    raise ReceiverMismatch


#: `execution.<method>(name)`: read the variables the expression sees (Camunda 7, Activiti,
#: Flowable). `Local` reads the same variables: an expression sees one scope chain.
EXECUTION_METHODS = frozenset(
    {"getVariable", "getVariableLocal", "hasVariable", "hasVariableLocal"}
)

#: Flowable's `variables:<fn>(name, ...)` (also `vars:` and `var:`): the name of our
#: implementation for each spelling; the compiler builds them (they read the scope).
FLOWABLE_FUNCTIONS: dict[str, str] = {
    "get": "get",
    "getOrDefault": "getOrDefault",
    "exists": "exists",
    "isEmpty": "isEmpty",
    "empty": "isEmpty",
    "isNotEmpty": "isNotEmpty",
    "notEmpty": "isNotEmpty",
    "equals": "equals",
    "eq": "equals",
    "notEquals": "notEquals",
    "ne": "notEquals",
    "lowerThan": "lt",
    "lessThan": "lt",
    "lt": "lt",
    "lowerThanOrEquals": "lte",
    "lessThanOrEquals": "lte",
    "lte": "lte",
    "greaterThan": "gt",
    "gt": "gt",
    "greaterThanOrEquals": "gte",
    "gte": "gte",
    "contains": "contains",
    "containsAny": "containsAny",
}
