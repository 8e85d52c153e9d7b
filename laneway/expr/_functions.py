"""Built-in functions: the only functions an expression can call.

The table is closed: a name not in `FUNCTIONS` is a compile error ("Unknown function"), so
`__import__('os')` or `eval(...)` are just names nobody defined.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
    DecimalException,
)
from typing import Any

import isodate

from laneway.expr._errors import EvalProblem
from laneway.expr._values import (
    DECIMAL,
    MAX_LIST,
    MAX_STRING,
    add,
    divide,
    equal,
    is_empty,
    is_list,
    is_number,
    kind,
    multiply,
    order,
    to_decimal,
    to_text,
)
from laneway.regex import RegexError, compile_regex

#: Regular expressions run on RE2 (`laneway.regex`): linear in the text whatever the pattern,
#: so a condition on user text cannot stall the engine. Patterns are short and the text they
#: run on is capped.
MAX_PATTERN = 200
MAX_REGEX_INPUT = 100_000


class ArgMismatch(Exception):
    """Argument `index` of a call is of the wrong type; the call node words the message."""

    def __init__(self, index: int, expected: str, actual: str | None = None) -> None:
        self.index = index
        self.expected = expected
        self.actual = actual
        super().__init__(expected)


@dataclass(frozen=True, slots=True)
class Function:
    """A built-in: its implementation and how many arguments it takes (`most` None: any)."""

    impl: Callable[[list[Any]], Any]
    least: int
    most: int | None
    #: FEEL functions return null when an argument is null; the few that look at nulls say so.
    null_in_null_out: bool = True


FUNCTIONS: dict[str, Function] = {}


def _register(
    name: str, least: int, most: int | None = -1, *, nulls: bool = True
) -> Callable[[Callable[[list[Any]], Any]], Callable[[list[Any]], Any]]:
    def wrap(impl: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        FUNCTIONS[name] = Function(impl, least, least if most == -1 else most, nulls)
        return impl

    return wrap


# --- argument checks -------------------------------------------------------------------------


def _str(args: list[Any], i: int) -> str:
    value = args[i]
    if isinstance(value, str):
        return value
    raise ArgMismatch(i, "a string")


def _num(args: list[Any], i: int) -> Any:
    value = args[i]
    if is_number(value):
        return value
    raise ArgMismatch(i, "a number")


def _int(args: list[Any], i: int) -> int:
    value = _num(args, i)
    if value != int(value):
        raise ArgMismatch(i, "a whole number", "a number with a fraction")
    if abs(value) > 10**9:
        raise ArgMismatch(i, "a number below a billion", "a bigger number")
    return int(value)


def _list(args: list[Any], i: int) -> list[Any]:
    value = args[i]
    if is_list(value):
        return list(value)
    raise ArgMismatch(i, "a list")


def _context(args: list[Any], i: int) -> Mapping[str, Any]:
    value = args[i]
    if isinstance(value, Mapping):
        return value
    raise ArgMismatch(i, "a context")


def _items(args: list[Any]) -> list[Any]:
    """`sum(list)` or `sum(a, b, c)`: FEEL accepts both."""
    if len(args) == 1 and is_list(args[0]):
        return list(args[0])
    return args


def _numbers(args: list[Any]) -> list[Any]:
    items = _items(args)
    for value in items:
        if not is_number(value):
            raise ArgMismatch(0, "a list of numbers", f"a list containing {_a(kind(value))}")
    return items


def _a(name: str) -> str:
    return name if name == "null" else ("an " if name[0] in "aeiou" else "a ") + name


def _capped(values: list[Any]) -> list[Any]:
    if len(values) > MAX_LIST:
        raise EvalProblem(f"List is too long (more than {MAX_LIST} items)")
    return values


def _whole(value: Any) -> Any:
    """Integral Decimals become ints so results read naturally (floor(1.5) is 1, not 1.0)."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


# --- strings ---------------------------------------------------------------------------------


@_register("string length", 1)
def _string_length(args: list[Any]) -> Any:
    return len(_str(args, 0))


@_register("upper case", 1)
def _upper_case(args: list[Any]) -> Any:
    return _str(args, 0).upper()


@_register("lower case", 1)
def _lower_case(args: list[Any]) -> Any:
    return _str(args, 0).lower()


@_register("substring", 2, 3)
def _substring(args: list[Any]) -> Any:
    text = _str(args, 0)
    start = _int(args, 1)
    # FEEL positions are 1-based; negative ones count from the end (-1 is the last character).
    begin = start - 1 if start > 0 else max(len(text) + start, 0) if start < 0 else 0
    if len(args) == 3:
        length = _int(args, 2)
        return text[begin : begin + max(length, 0)]
    return text[begin:]


@_register("substring before", 2)
def _substring_before(args: list[Any]) -> Any:
    text, match = _str(args, 0), _str(args, 1)
    at = text.find(match)
    return "" if at < 0 else text[:at]


@_register("substring after", 2)
def _substring_after(args: list[Any]) -> Any:
    text, match = _str(args, 0), _str(args, 1)
    at = text.find(match)
    return "" if at < 0 else text[at + len(match) :]


@_register("contains", 2)
def _contains(args: list[Any]) -> Any:
    return _str(args, 1) in _str(args, 0)


@_register("starts with", 2)
def _starts_with(args: list[Any]) -> Any:
    return _str(args, 0).startswith(_str(args, 1))


@_register("ends with", 2)
def _ends_with(args: list[Any]) -> Any:
    return _str(args, 0).endswith(_str(args, 1))


@_register("trim", 1)
def _trim(args: list[Any]) -> Any:
    return _str(args, 0).strip()


_FLAGS = frozenset("ismx")


def _regex(pattern: str, flags: str) -> Any:
    # not cached here: `compile_regex` caches the compiled pattern
    if len(pattern) > MAX_PATTERN:
        raise EvalProblem(f"Regular expression is too long (at most {MAX_PATTERN} characters)")
    for flag in flags:
        if flag not in _FLAGS:
            raise EvalProblem(f"Unknown regular expression flag {flag!r} (use s, m, i or x)")
    try:
        return compile_regex(_unverbose(pattern) if "x" in flags else pattern,
                             ignore_case="i" in flags, dot_all="s" in flags,
                             multiline="m" in flags)
    except RegexError as exc:
        raise EvalProblem(f"Invalid regular expression {pattern!r}: {exc}") from None


def _unverbose(pattern: str) -> str:
    """The `x` flag's pattern as RE2 reads it (RE2 has no verbose mode): white space outside
    character classes removed, as XPath's `x` flag says (no comments in XPath)."""
    out: list[str] = []
    in_class = escaped = False
    for char in pattern:
        if escaped:
            out.append(char)
            escaped = False
        elif char == "\\":
            out.append(char)
            escaped = True
        elif in_class:
            out.append(char)
            in_class = char != "]"
        elif char == "[":
            out.append(char)
            in_class = True
        elif not char.isspace():
            out.append(char)
    return "".join(out)


def _regex_args(args: list[Any], flags_at: int) -> tuple[str, Any]:
    text = _str(args, 0)
    if len(text) > MAX_REGEX_INPUT:
        raise EvalProblem(f"Text is too long for a regular expression (max {MAX_REGEX_INPUT})")
    flags = _str(args, flags_at) if len(args) > flags_at else ""
    return text, _regex(_str(args, 1), flags)


@_register("matches", 2, 3)
def _matches(args: list[Any]) -> Any:
    text, pattern = _regex_args(args, 2)
    return pattern.search(text) is not None


_GROUP_REF = re.compile(r"\\(.)|\$(\d+)")


def _template(replacement: str) -> list[str | int]:
    """FEEL (XPath) replacement text as literal pieces and group numbers: 'x$1' -> ['x', 1]."""
    parts: list[str | int] = []
    at = 0
    for m in _GROUP_REF.finditer(replacement):
        parts.append(replacement[at : m.start()])
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        at = m.end()
    parts.append(replacement[at:])
    return [p for p in parts if p != ""]


@_register("replace", 3, 4)
def _replace(args: list[Any]) -> Any:
    text, pattern = _regex_args(args, 3)
    template = _template(_str(args, 2))
    for part in template:
        if isinstance(part, int) and part > pattern.groups:
            raise EvalProblem(f"Replacement refers to group ${part}, which the pattern lacks")
    room = [MAX_STRING - len(text)]

    # Expand by hand and count as we go: re's own expansion would build a huge result (an
    # empty pattern matches between every character) before any size check could run.
    def expand(m: Any) -> str:
        pieces = [p if isinstance(p, str) else (m.group(p) or "") for p in template]
        room[0] -= sum(len(p) for p in pieces)
        if room[0] < 0:
            raise EvalProblem(f"String is too long (more than {MAX_STRING} characters)")
        return "".join(pieces)

    return pattern.sub(expand, text)


@_register("split", 2)
def _split(args: list[Any]) -> Any:
    text, pattern = _regex_args(args, 2)
    return _capped(pattern.split(text))


@_register("extract", 2)
def _extract(args: list[Any]) -> Any:
    text, pattern = _regex_args(args, 2)
    return _capped([m.group(0) for m in pattern.finditer(text)])


@_register("string join", 1, 2)
def _string_join(args: list[Any]) -> Any:
    items = _list(args, 0)
    separator = _str(args, 1) if len(args) > 1 else ""
    parts = []
    for item in items:
        if item is None:
            continue  # FEEL skips nulls
        if not isinstance(item, str):
            raise ArgMismatch(0, "a list of strings", f"a list containing {_a(kind(item))}")
        parts.append(item)
    # Check the size before joining: the parts may be many references to one long string.
    if sum(len(p) for p in parts) + len(separator) * len(parts) > MAX_STRING:
        raise EvalProblem(f"String is too long (more than {MAX_STRING} characters)")
    return separator.join(parts)


@_register("string", 1)
def _string(args: list[Any]) -> Any:
    return to_text(args[0])


_NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*")


@_register("number", 1)
def _number(args: list[Any]) -> Any:
    value = args[0]
    if is_number(value):
        return value
    text = _str(args, 0)
    # Anything that is not a plain number is null, as FEEL says; so are absurdly long ones.
    if len(text) > 1000 or not _NUMBER_TEXT.fullmatch(text):
        return None
    text = text.strip()
    if text.lstrip("+-").isdigit():
        return int(text)
    try:
        return _whole(DECIMAL.create_decimal(text))
    except DecimalException:
        raise EvalProblem("Number is too large") from None


# --- lists -----------------------------------------------------------------------------------


@_register("count", 1)
def _count(args: list[Any]) -> Any:
    return len(_list(args, 0))


@_register("sum", 1, None)
def _sum(args: list[Any]) -> Any:
    total: Any = 0
    for value in _numbers(args):
        total = add(total, value)
    return total


@_register("product", 1, None)
def _product(args: list[Any]) -> Any:
    items = _numbers(args)
    if not items:
        return None
    total: Any = 1
    for value in items:
        total = multiply(total, value)
    return total


@_register("mean", 1, None)
def _mean(args: list[Any]) -> Any:
    items = _numbers(args)
    if not items:
        return None
    return divide(_sum(items), len(items))


def _extreme(args: list[Any], sign: int) -> Any:
    items = _items(args)
    if not items:
        return None
    best = items[0]
    for value in items[1:]:
        try:
            c = order(value, best)
        except Exception:
            raise ArgMismatch(
                0, "a list of comparable values", "a list of values of different types"
            ) from None
        if c is None:
            return None
        if c * sign > 0:
            best = value
    return best


@_register("min", 1, None)
def _min(args: list[Any]) -> Any:
    return _extreme(args, -1)


@_register("max", 1, None)
def _max(args: list[Any]) -> Any:
    return _extreme(args, 1)


@_register("median", 1, None)
def _median(args: list[Any]) -> Any:
    items = _sorted(_numbers(args))
    if not items:
        return None
    mid = len(items) // 2
    if len(items) % 2:
        return items[mid]
    return divide(add(items[mid - 1], items[mid]), 2)


@_register("all", 1, None, nulls=False)
def _all(args: list[Any]) -> Any:
    items = _items(args)
    if any(value is False for value in items):
        return False
    return True if all(value is True for value in items) else None


@_register("any", 1, None, nulls=False)
def _any(args: list[Any]) -> Any:
    items = _items(args)
    if any(value is True for value in items):
        return True
    return False if all(value is False for value in items) else None


@_register("list contains", 2, nulls=False)
def _list_contains(args: list[Any]) -> Any:
    if args[0] is None:
        return None
    return any(equal(item, args[1]) for item in _list(args, 0))


@_register("append", 1, None, nulls=False)
def _append(args: list[Any]) -> Any:
    if args[0] is None:
        return None
    return _capped([*_list(args, 0), *args[1:]])


@_register("concatenate", 1, None)
def _concatenate(args: list[Any]) -> Any:
    result: list[Any] = []
    for i in range(len(args)):
        result.extend(_list(args, i))
        _capped(result)
    return result


@_register("insert before", 3, nulls=False)
def _insert_before(args: list[Any]) -> Any:
    if args[0] is None or args[1] is None:
        return None
    items = _list(args, 0)
    position = _int(args, 1)
    at = position - 1 if position > 0 else len(items) + position
    if not 0 <= at <= len(items):
        return None
    return _capped([*items[:at], args[2], *items[at:]])


@_register("remove", 2)
def _remove(args: list[Any]) -> Any:
    items = _list(args, 0)
    position = _int(args, 1)
    at = position - 1 if position > 0 else len(items) + position
    if not 0 <= at < len(items):
        return None
    return items[:at] + items[at + 1 :]


@_register("sublist", 2, 3)
def _sublist(args: list[Any]) -> Any:
    items = _list(args, 0)
    start = _int(args, 1)
    begin = start - 1 if start > 0 else max(len(items) + start, 0)
    if len(args) == 3:
        return items[begin : begin + max(_int(args, 2), 0)]
    return items[begin:]


@_register("reverse", 1)
def _reverse(args: list[Any]) -> Any:
    return _list(args, 0)[::-1]


@_register("index of", 2, nulls=False)
def _index_of(args: list[Any]) -> Any:
    if args[0] is None:
        return None
    return [i + 1 for i, item in enumerate(_list(args, 0)) if equal(item, args[1])]


def _freeze(value: Any) -> Any:
    """A hashable key with FEEL equality, so distinct values is linear, not quadratic."""
    k = kind(value)
    if k == "number":
        return ("#", float(value) if isinstance(value, float) else _whole(value))
    if k == "list":
        return ("l", tuple(_freeze(item) for item in value))
    if k == "context":
        return ("c", frozenset((key, _freeze(item)) for key, item in value.items()))
    if k in ("null", "boolean", "string", "date", "date and time", "duration"):
        return (k, value)
    return ("o", id(value))


def _distinct(items: list[Any]) -> list[Any]:
    seen: set[Any] = set()
    result = []
    for item in items:
        key = _freeze(item)
        if key not in seen:
            seen.add(key)
            result.append(item)
    return result


@_register("distinct values", 1)
def _distinct_values(args: list[Any]) -> Any:
    return _distinct(_list(args, 0))


@_register("union", 1, None)
def _union(args: list[Any]) -> Any:
    return _distinct(_concatenate(args))


@_register("flatten", 1)
def _flatten(args: list[Any]) -> Any:
    result: list[Any] = []

    def walk(items: Any) -> None:
        for item in items:
            if is_list(item):
                walk(item)
            else:
                result.append(item)
                if len(result) > MAX_LIST:
                    _capped(result)

    walk(_list(args, 0))
    return result


def _sorted(items: list[Any]) -> list[Any]:
    def compare(a: Any, b: Any) -> int:
        c = order(a, b)
        if c is None:
            raise ArgMismatch(0, "a list without nulls", "a list containing null")
        return c

    try:
        return sorted(items, key=functools.cmp_to_key(compare))
    except ArgMismatch:
        raise
    except Exception:
        raise ArgMismatch(
            0, "a list of comparable values", "a list of values of different types"
        ) from None


@_register("sort", 1)
def _sort(args: list[Any]) -> Any:
    return _sorted(_list(args, 0))


@_register("is empty", 1, nulls=False)
def _is_empty(args: list[Any]) -> Any:
    return is_empty(args[0])


# --- numbers ---------------------------------------------------------------------------------


@_register("abs", 1)
def _abs(args: list[Any]) -> Any:
    return abs(_num(args, 0))


def _rounding(mode: str) -> Callable[[list[Any]], Any]:
    def impl(args: list[Any]) -> Any:
        value = to_decimal(_num(args, 0))
        scale = _int(args, 1) if len(args) > 1 else 0
        if abs(scale) > 100:
            raise ArgMismatch(1, "a scale between -100 and 100", "a bigger number")
        try:
            return _whole(value.quantize(Decimal(1).scaleb(-scale), rounding=mode, context=DECIMAL))
        except DecimalException:
            raise EvalProblem("Number is too large to round at that scale") from None

    return impl


for _name, _mode, _least in (
    ("floor", ROUND_FLOOR, 1),
    ("ceiling", ROUND_CEILING, 1),
    ("decimal", ROUND_HALF_EVEN, 2),
    ("round half up", ROUND_HALF_UP, 1),
    ("round half even", ROUND_HALF_EVEN, 1),
    ("round up", ROUND_UP, 1),
    ("round down", ROUND_DOWN, 1),
):
    FUNCTIONS[_name] = Function(_rounding(_mode), _least, 2)


@_register("modulo", 2)
def _modulo(args: list[Any]) -> Any:
    dividend, divisor = _num(args, 0), _num(args, 1)
    if divisor == 0:
        return None
    if isinstance(dividend, float) or isinstance(divisor, float):
        return float(dividend) % float(divisor)  # Python's % takes the divisor's sign, as FEEL
    if isinstance(dividend, int) and isinstance(divisor, int):
        return dividend % divisor
    a, b = to_decimal(dividend), to_decimal(divisor)
    try:
        # Decimal's % truncates towards zero; FEEL floors: a - b * floor(a / b).
        quotient = DECIMAL.divide_int(a, b)
        if (a < 0) != (b < 0) and quotient * b != a:
            quotient -= 1
        return _whole(DECIMAL.subtract(a, DECIMAL.multiply(b, quotient)))
    except DecimalException:
        raise EvalProblem("Number is too large") from None


@_register("sqrt", 1)
def _sqrt(args: list[Any]) -> Any:
    value = _num(args, 0)
    if value < 0:
        return None
    if isinstance(value, float):
        return math.sqrt(value)
    return _whole(DECIMAL.sqrt(to_decimal(value)))


@_register("odd", 1)
def _odd(args: list[Any]) -> Any:
    value = _num(args, 0)
    return value == int(value) and int(value) % 2 == 1


@_register("even", 1)
def _even(args: list[Any]) -> Any:
    value = _num(args, 0)
    return value == int(value) and int(value) % 2 == 0


# --- contexts and nulls ----------------------------------------------------------------------


@_register("is defined", 1, nulls=False)
def _is_defined(args: list[Any]) -> Any:
    return args[0] is not None


@_register("get or else", 2, nulls=False)
def _get_or_else(args: list[Any]) -> Any:
    return args[1] if args[0] is None else args[0]


@_register("get value", 2)
def _get_value(args: list[Any]) -> Any:
    return _context(args, 0).get(_str(args, 1))


@_register("get entries", 1)
def _get_entries(args: list[Any]) -> Any:
    return [{"key": key, "value": value} for key, value in _context(args, 0).items()]


# --- dates and durations ---------------------------------------------------------------------


@_register("date", 1, 3)
def _date(args: list[Any]) -> Any:
    if len(args) == 3:
        try:
            return date(_int(args, 0), _int(args, 1), _int(args, 2))
        except ValueError:
            return None
    value = args[0]
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_str(args, 0))
    except ValueError:
        return None  # FEEL: not a date is null


@_register("date and time", 1, 2)
def _date_and_time(args: list[Any]) -> Any:
    if len(args) == 2:
        day = args[0]
        if not isinstance(day, date):
            raise ArgMismatch(0, "a date")
        try:
            moment = datetime.fromisoformat(f"{day.isoformat()[:10]}T{_str(args, 1)}")
        except ValueError:
            return None
        return moment
    value = args[0]
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(_str(args, 0))
    except ValueError:
        return None


@_register("duration", 1)
def _duration(args: list[Any]) -> Any:
    if kind(args[0]) == "duration":
        return args[0]
    text = _str(args, 0)
    try:
        return isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError, OverflowError):
        return None


# The engine core has no clock: it sets the command's timestamp here while it processes, so
# `now()` in a condition gives the same answer on every replay. It is kept as the epoch
# milliseconds given and made a datetime only when `now()` or `today()` asks (most commands
# never do, and every command sets it).
FIXED_NOW: ContextVar[int | None] = ContextVar("laneway_expr_now", default=None)


def _current() -> datetime:
    fixed = FIXED_NOW.get()
    return (datetime.fromtimestamp(fixed / 1000, UTC) if fixed is not None
            else datetime.now(UTC))


@_register("now", 0)
def _now(args: list[Any]) -> Any:
    return _current()


@_register("today", 0)
def _today(args: list[Any]) -> Any:
    return _current().date()
