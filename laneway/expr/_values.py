"""Values of the expression language and the operators on them.

Values are JSON-like: None, bool, int, float, Decimal, str, list (tuples are read as lists),
Mapping (a FEEL context), plus date, datetime, timedelta and isodate.Duration. Anything else a
caller passes in is an opaque "unsupported value": it can be compared for identity and passed
around, never looked into. No helper here calls getattr on a value or any method chosen by the
expression text: that is the sandbox.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, DecimalException, InvalidOperation, Overflow
from typing import Any

import isodate

from laneway.expr._errors import EvalProblem, Mismatch

#: FEEL numbers are IEEE 754 decimal128: 34 digits. Traps make overflow an error, not Infinity.
DECIMAL = Context(
    prec=34,
    rounding=ROUND_HALF_EVEN,
    Emax=6144,
    Emin=-6143,
    traps=[InvalidOperation, Overflow],
)

_NEAR = Context(prec=33, rounding=ROUND_HALF_EVEN)
"""One digit less than DECIMAL: `normalize` rounds with it to see a whole number."""

#: Caps on what one evaluation may build, so a malicious or mistaken expression cannot exhaust
#: memory: longest string, longest list, biggest integer (about 1233 decimal digits).
MAX_STRING = 1_000_000
MAX_LIST = 100_000
MAX_INT_BITS = 4096

_KINDS: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    Decimal: "number",
    str: "string",
    list: "list",
    tuple: "list",
    dict: "context",
    date: "date",
    datetime: "date and time",
    timedelta: "duration",
    isodate.Duration: "duration",
}

# Types whose Python operators already mean what FEEL means, for the fast paths.
_SIMPLE_ORDER = frozenset({int, float, str})
_SIMPLE_EQUAL = frozenset({int, float, str, bool, type(None)})


def kind(value: Any) -> str:
    """The expression-language type of `value`: 'number', 'string', 'context', ..."""
    found = _KINDS.get(type(value))
    if found is not None:
        return found
    # Subclasses (StrEnum, OrderedDict, ...) are rarer; bool is tested before int on purpose.
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float | Decimal):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "context"
    if isinstance(value, datetime):
        return "date and time"
    if isinstance(value, date):
        return "date"
    if isinstance(value, timedelta | isodate.Duration):
        return "duration"
    return "unsupported value"


def a_kind(value: Any) -> str:
    """'a string', 'an unsupported value', 'null' - for messages."""
    name = kind(value)
    if name == "null":
        return "null"
    return ("an " if name[0] in "aeiou" else "a ") + name


def is_number(value: Any) -> bool:
    """True for int, float and Decimal, false for bool."""
    return kind(value) == "number"


def is_list(value: Any) -> bool:
    """True for lists and tuples."""
    return isinstance(value, list | tuple)


# --- numbers ---------------------------------------------------------------------------------


def _check_int(value: int) -> int:
    if value.bit_length() > MAX_INT_BITS:
        raise EvalProblem("Number is too large (more than about 1200 digits)")
    return value


def _check_float(value: float) -> float:
    if not math.isfinite(value):
        raise EvalProblem("Number is too large")
    return value


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    """Make two numbers comparable: a float on either side turns both into floats.

    Decimal and float compare exactly in Python, so Decimal('0.1') != 0.1; a float variable
    compared with the literal 0.1 (a Decimal) must be equal.
    """
    if isinstance(a, float) or isinstance(b, float):
        return float(a), float(b)
    return a, b


def to_decimal(value: Any) -> Decimal:
    """A number as a Decimal; floats go through their shortest repr (0.1 -> Decimal('0.1'))."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Decimal):
        return value
    return Decimal(value)


def _arith(op: str, a: Any, b: Any) -> Any:
    """`op` on two numbers (already checked to be numbers)."""
    ta, tb = type(a), type(b)
    if ta is int and tb is int:
        if op == "+":
            return _check_int(a + b)
        if op == "-":
            return _check_int(a - b)
        if op == "*":
            return _check_int(a * b)
        if op == "/":
            if b == 0:
                return None  # FEEL: division by zero is null
            return a // b if a % b == 0 else DECIMAL.divide(a, b)
    if isinstance(a, float) or isinstance(b, float):
        fa, fb = float(a), float(b)
        if op == "+":
            return _check_float(fa + fb)
        if op == "-":
            return _check_float(fa - fb)
        if op == "*":
            return _check_float(fa * fb)
        if fb == 0:
            return None
        return _check_float(fa / fb)
    try:
        if op == "+":
            return DECIMAL.add(a, b)
        if op == "-":
            return DECIMAL.subtract(a, b)
        if op == "*":
            return DECIMAL.multiply(a, b)
        if b == 0:
            return None
        return DECIMAL.divide(a, b)
    except DecimalException:
        raise EvalProblem("Number is too large") from None


def power(a: Any, b: Any) -> Any:
    """`a ** b`, refusing results that would be huge or take long to compute."""
    if a is None or b is None:
        return None
    if not is_number(a):
        raise Mismatch("a number", 0)
    if not is_number(b):
        raise Mismatch("a number", 1)
    if type(a) is int and type(b) is int and b >= 0:
        # Estimate the size first: 2 ** 10**9 must fail at once, not after minutes.
        if a not in (-1, 0, 1) and (a.bit_length() - 1) * b > MAX_INT_BITS:
            raise EvalProblem("Number is too large (the exponent is too big)")
        return _check_int(a**b)
    if isinstance(a, float) or isinstance(b, float):
        try:
            result = math.pow(float(a), float(b))
        except (OverflowError, ValueError):
            raise EvalProblem("Number is too large or undefined (power)") from None
        return _check_float(result)
    try:
        return DECIMAL.power(to_decimal(a), to_decimal(b))
    except DecimalException:
        raise EvalProblem("Number is too large or undefined (power)") from None


def negate(a: Any) -> Any:
    """Unary minus on a number or duration."""
    if a is None:
        return None
    k = kind(a)
    if k == "number":
        return -a
    if k == "duration":
        return -a
    raise Mismatch("a number", 0)


# --- operators -------------------------------------------------------------------------------


def add(a: Any, b: Any) -> Any:
    """`a + b`: numbers, string concatenation, date/duration arithmetic."""
    ta = type(a)
    if ta is type(b):
        if ta is int:
            return _check_int(a + b)
        if ta is str:
            if len(a) + len(b) > MAX_STRING:
                raise EvalProblem(f"String is too long (more than {MAX_STRING} characters)")
            return a + b
    if a is None or b is None:
        return None
    ka, kb = kind(a), kind(b)
    if ka == "number" and kb == "number":
        return _arith("+", a, b)
    if ka == "string" and kb == "string":
        return add(str(a), str(b))
    if ka == "duration" and kb in ("date", "date and time", "duration"):
        return _dates(lambda: b + a)
    if kb == "duration" and ka in ("date", "date and time"):
        return _dates(lambda: a + b)
    raise Mismatch()


def subtract(a: Any, b: Any) -> Any:
    """`a - b`: numbers, dates minus dates or durations, durations."""
    if type(a) is int and type(b) is int:
        return _check_int(a - b)
    if a is None or b is None:
        return None
    ka, kb = kind(a), kind(b)
    if ka == "number" and kb == "number":
        return _arith("-", a, b)
    if ka in ("date", "date and time", "duration") and (kb == ka or kb == "duration"):
        return _dates(lambda: a - b)
    raise Mismatch()


def multiply(a: Any, b: Any) -> Any:
    """`a * b`: numbers, or a duration times a number. Never string repetition."""
    if type(a) is int and type(b) is int:
        return _check_int(a * b)
    if a is None or b is None:
        return None
    ka, kb = kind(a), kind(b)
    if ka == "number" and kb == "number":
        return _arith("*", a, b)
    if ka == "duration" and kb == "number":
        return _dates(lambda: a * _factor(b))
    if kb == "duration" and ka == "number":
        return _dates(lambda: b * _factor(a))
    if ka == "string" or kb == "string":
        raise Mismatch("a number", 0 if ka == "string" else 1)
    raise Mismatch()


def _factor(number: Any) -> int | float:
    # isodate's years-months durations multiply by whole numbers only.
    return int(number) if number == int(number) else float(number)


def divide(a: Any, b: Any) -> Any:
    """`a / b`: numbers (division by zero is null), a duration divided by a number or duration."""
    if a is None or b is None:
        return None
    ka, kb = kind(a), kind(b)
    if ka == "number" and kb == "number":
        return _arith("/", a, b)
    if ka == "duration" and kb in ("number", "duration"):
        if not b:
            return None
        return _dates(lambda: a / (float(b) if kb == "number" else b))
    raise Mismatch()


def _dates(compute: Any) -> Any:
    try:
        return compute()
    except (OverflowError, ValueError, TypeError, ArithmeticError):
        # Mixing naive and aware datetimes, years-months durations with timedeltas, year 10000.
        raise EvalProblem("Cannot compute with these dates or durations") from None


def order(a: Any, b: Any) -> int | None:
    """-1, 0 or 1 comparing a and b; None when either is null; Mismatch when incomparable."""
    if a is None or b is None:
        return None
    ka, kb = kind(a), kind(b)
    if ka != kb:
        if ka in ("date", "date and time") and kb in ("date", "date and time"):
            # A date compares with a date and time as midnight of that day, in its time zone.
            a, b = _as_datetime(a, b), _as_datetime(b, a)
        else:
            raise Mismatch()
    elif ka == "number":
        a, b = _coerce(a, b)
    elif ka not in ("string", "date", "date and time", "duration"):
        raise Mismatch("a number, string, date or duration", 0)
    try:
        return int((a > b) - (a < b))
    except TypeError:
        raise EvalProblem(
            f"Cannot compare {a_kind(a)} with {a_kind(b)}: one has a time zone and the other "
            "not, or one duration counts months and the other days"
        ) from None


def _as_datetime(value: date, other: date) -> datetime:
    if isinstance(value, datetime):
        return value
    zone = other.tzinfo if isinstance(other, datetime) else None
    return datetime(value.year, value.month, value.day, tzinfo=zone)


def less(a: Any, b: Any) -> bool | None:
    """`a < b`."""
    if type(a) is type(b) and type(a) in _SIMPLE_ORDER:
        return bool(a < b)
    c = order(a, b)
    return None if c is None else c < 0


def less_equal(a: Any, b: Any) -> bool | None:
    """`a <= b`."""
    if type(a) is type(b) and type(a) in _SIMPLE_ORDER:
        return bool(a <= b)
    c = order(a, b)
    return None if c is None else c <= 0


def greater(a: Any, b: Any) -> bool | None:
    """`a > b`."""
    if type(a) is type(b) and type(a) in _SIMPLE_ORDER:
        return bool(a > b)
    c = order(a, b)
    return None if c is None else c > 0


def greater_equal(a: Any, b: Any) -> bool | None:
    """`a >= b`."""
    if type(a) is type(b) and type(a) in _SIMPLE_ORDER:
        return bool(a >= b)
    c = order(a, b)
    return None if c is None else c >= 0


def equal(a: Any, b: Any) -> bool:
    """FEEL `=`: deep equality; values of different types are unequal (never an error).

    Unlike Python, `true = 1` is false, and 0.1 (a float variable) equals the literal 0.1.
    """
    ta = type(a)
    if ta is type(b) and ta in _SIMPLE_EQUAL:
        return bool(a == b)
    if a is None or b is None:
        return a is b
    ka, kb = kind(a), kind(b)
    if ka != kb:
        return False
    if ka == "number":
        a, b = _coerce(a, b)
        return bool(a == b)
    if ka == "list":
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if ka == "context":
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if ka == "unsupported value":
        return a is b
    try:
        return bool(a == b)
    except TypeError:
        return False


def not_equal(a: Any, b: Any) -> bool:
    """FEEL `!=`."""
    return not equal(a, b)


def is_empty(value: Any) -> bool:
    """JUEL `empty`: null, "", [] and {} are empty."""
    if value is None:
        return True
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) == 0
    return False


# --- paths -----------------------------------------------------------------------------------

_DATE_PROPERTIES = {
    "year": lambda d: d.year,
    "month": lambda d: d.month,
    "day": lambda d: d.day,
    "weekday": lambda d: d.isoweekday(),
}
_TIME_PROPERTIES = {
    "hour": lambda d: d.hour,
    "minute": lambda d: d.minute,
    "second": lambda d: d.second,
}


def get_path(value: Any, key: str) -> Any:
    """`value.key`: a context entry, the same entry of each context in a list, or a date part.

    Anything else is null: this is the only way an expression looks inside a value, and it only
    ever reads Mapping entries or a fixed table of date properties.
    """
    if isinstance(value, Mapping):
        return value.get(key)
    if isinstance(value, list | tuple):
        return [get_path(item, key) for item in value]
    if isinstance(value, date):
        prop = _DATE_PROPERTIES.get(key)
        if prop is None and isinstance(value, datetime):
            prop = _TIME_PROPERTIES.get(key)
        return prop(value) if prop is not None else None
    if isinstance(value, timedelta):
        return _timedelta_property(value, key)
    if isinstance(value, isodate.Duration):
        if key == "years":
            return int(value.years)
        if key == "months":
            return int(value.months)
        return _timedelta_property(value.tdelta, key)
    return None


def _timedelta_property(value: timedelta, key: str) -> Any:
    total = int(value.total_seconds())
    sign = -1 if total < 0 else 1
    total = abs(total)
    parts = {
        "days": total // 86400,
        "hours": total % 86400 // 3600,
        "minutes": total % 3600 // 60,
        "seconds": total % 60,
    }
    part = parts.get(key)
    return None if part is None else sign * part


# --- strings and output ----------------------------------------------------------------------


def number_text(value: Any) -> str:
    """A number written as FEEL writes it: no exponent, no trailing zeros (1.10 -> '1.1')."""
    if type(value) is int:
        return str(value)
    dec = to_decimal(value)
    if dec == 0:
        return "0"
    text = format(dec.normalize(DECIMAL), "f")
    return text


def to_text(value: Any) -> str | None:
    """FEEL `string(x)`: null stays null; strings stay as they are; the rest is written out."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    parts: list[str] = []
    # Count as we go: a list of 100,000 references to one long string is cheap to hold but
    # must not be written out in full before the size check.
    _write(value, parts, [MAX_STRING], nested=False)
    return "".join(parts)


def _write(value: Any, out: list[str], room: list[int], nested: bool) -> None:
    k = kind(value)
    if k == "list":
        _emit("[", out, room)
        for i, item in enumerate(value):
            if i:
                _emit(", ", out, room)
            _write(item, out, room, True)
        _emit("]", out, room)
        return
    if k == "context":
        _emit("{", out, room)
        for i, (key, item) in enumerate(value.items()):
            _emit(f"{', ' if i else ''}{key}: ", out, room)
            _write(item, out, room, True)
        _emit("}", out, room)
        return
    if k == "null":
        text = "null"
    elif k == "boolean":
        text = "true" if value else "false"
    elif k == "number":
        text = number_text(value)
    elif k == "string":
        text = str(value)
        if nested:
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif k in ("date", "date and time"):
        text = str(value.isoformat())
        if text.endswith("+00:00"):
            text = text[:-6] + "Z"  # as FEEL and most schedulers write UTC
    elif k == "duration":
        text = str(isodate.duration_isoformat(value))
    else:
        text = "<unsupported value>"
    _emit(text, out, room)


def _emit(text: str, out: list[str], room: list[int]) -> None:
    room[0] -= len(text)
    if room[0] < 0:
        raise EvalProblem(f"String is too long (more than {MAX_STRING} characters)")
    out.append(text)


def normalize(value: Any) -> Any:
    """Make a result JSON-friendly: Decimal becomes int when whole, else float; tuples lists.

    Dates and durations are returned as Python objects (date, datetime, timedelta,
    isodate.Duration); `to_text` writes them as ISO 8601.
    """
    t = type(value)
    if t is Decimal:
        if value == value.to_integral_value():
            return int(value)
        # a division's result is rounded in its 34th digit, so `a / b * b` can come back as
        # 17 nines after the point: one digit less forgives that rounding and keeps a whole
        # number whole (a float would lose a's last digits above 2**53)
        near = _NEAR.plus(value)
        if near == near.to_integral_value():
            return int(near)
        return float(value)
    if t is list or t is tuple:
        return [normalize(item) for item in value]
    if t is dict:
        return {key: normalize(item) for key, item in value.items()}
    return value
