"""The expression language, feature by feature: expression, variables, expected value."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import isodate
import pytest

from laneway.expr import (
    FUNCTION_NAMES,
    CompiledExpression,
    ExpressionError,
    compile_expression,
    evaluate,
    evaluate_condition,
    variable_names,
)

ORDER = {
    "items": [
        {"name": "pen", "price": 2, "qty": 10},
        {"name": "book", "price": 15, "qty": 1},
        {"name": "lamp", "price": 40, "qty": 2},
    ],
    "customer": {"name": "Ada", "address": {"city": "Leeds"}, "vip": True},
    "amount": 150,
    "status": "open",
}

CASES: list[tuple[str, dict[str, Any], Any]] = [
    # literals
    ("1", {}, 1),
    ("1.5", {}, 1.5),
    ('"double"', {}, "double"),
    ("'single'", {}, "single"),
    (r'"a\"b\n\u0041"', {}, 'a"b\nA'),
    (r'"\d+"', {}, r"\d+"),
    ("true", {}, True),
    ("false", {}, False),
    ("null", {}, None),
    ("[1, 2, 3]", {}, [1, 2, 3]),
    ("[]", {}, []),
    ('{a: 1, "b c": 2}', {}, {"a": 1, "b c": 2}),
    ("{a: 1, b: a + 1}", {}, {"a": 1, "b": 2}),
    ("{}", {}, {}),
    # names and paths
    ("amount", ORDER, 150),
    ("unknown", ORDER, None),
    ("customer.name", ORDER, "Ada"),
    ("customer.address.city", ORDER, "Leeds"),
    ("customer.missing.city", ORDER, None),
    ("items.name", ORDER, ["pen", "book", "lamp"]),
    ("`odd name` + 1", {"odd name": 1}, 2),
    # filters and indexes (1-based, negative from the end)
    ("items[price > 10].name", ORDER, ["book", "lamp"]),
    ("items[price > 100]", ORDER, []),
    ("items[1].name", ORDER, "pen"),
    ("items[-1].name", ORDER, "lamp"),
    ("items[0]", ORDER, None),
    ("items[9]", ORDER, None),
    ("[10, 20, 30][n]", {"n": 2}, 20),
    ("[1, 2, 3, 4][item > 2]", {}, [3, 4]),
    ("[1, 2, 3][item > limit]", {"limit": 1}, [2, 3]),
    ("items[qty >= 2 and price < 10].name", ORDER, ["pen"]),
    ("flags[active]", {"flags": [{"active": True}, {"active": False}]}, [{"active": True}]),
    ("missing[1]", {}, None),
    # comparisons
    ("1 = 1", {}, True),
    ("1 = 1.0", {}, True),
    ("1 != 2", {}, True),
    ('"a" < "b"', {}, True),
    ("2 <= 2", {}, True),
    ("3 > 2", {}, True),
    ("2 >= 3", {}, False),
    ("x = null", {}, True),
    ("x = null", {"x": 0}, False),
    ("x != null", {"x": 0}, True),
    ("true = 1", {}, False),
    ('1 = "1"', {}, False),
    ("[1, [2]] = [1, [2]]", {}, True),
    ("{a: 1} = {a: 1}", {}, True),
    ("x > 1", {}, None),
    ("0.1 + 0.2 = 0.3", {}, True),
    ("x = 0.1", {"x": 0.1}, True),
    ("x < 0.2", {"x": 0.1}, True),
    ("x = 2.5", {"x": Decimal("2.5")}, True),
    ("5 between 1 and 10", {}, True),
    ("10 between 1 and 10", {}, True),
    ("11 between 1 and 10", {}, False),
    ("x between 1 and 10 and y", {"x": 5, "y": True}, True),
    ("2 in [1, 2]", {}, True),
    ("3 in [1, 2]", {}, False),
    ("3 not in [1, 2]", {}, True),
    ("5 in 5", {}, True),
    ("10 in (1..10)", {}, False),
    ("10 in [1..10]", {}, True),
    ("1 in (1..10]", {}, False),
    ("1 in [1..10)", {}, True),
    ('"m" in ["a".."z"]', {}, True),
    ("x in [1..10]", {}, None),
    # boolean logic: FEEL three-valued, no Python truthiness
    ("true and true", {}, True),
    ("true and false", {}, False),
    ("false and x", {}, False),
    ("true and x", {}, None),
    ("true and 1", {}, None),
    ("true or x", {}, True),
    ("false or x", {}, None),
    ("false or false", {}, False),
    ("false or 1", {}, None),
    ("a or b or c or d", {"d": True}, True),
    ("a and b and c", {"a": True, "b": True, "c": True}, True),
    ("a and b and c", {"a": True, "b": None, "c": False}, False),
    ("a and b and c", {"a": True, "b": None, "c": True}, None),
    ("not(true)", {}, False),
    ("not(x)", {}, None),
    ("not(1)", {}, None),
    ("not(a = b)", {"a": 1, "b": 2}, True),
    ("(not a) = b", {"a": True, "b": False}, True),
    # arithmetic
    ("1 + 2 * 3", {}, 7),
    ("(1 + 2) * 3", {}, 9),
    ("7 - 10", {}, -3),
    ("7 / 2", {}, 3.5),
    ("6 / 2", {}, 3),
    ("1 / 0", {}, None),
    ("1 / 3 * 3", {}, 1),
    ("2 ** 10", {}, 1024),
    ("2 ** -1", {}, 0.5),
    ("2 ** 3 ** 2", {}, 512),
    ("-2 ** 2", {}, -4),
    ("-x", {"x": 3}, -3),
    ("--1", {}, 1),
    ("1.1 * 3", {}, 3.3),
    ("x * 2", {"x": 0.5}, 1.0),
    ("x + 1", {}, None),
    ('"a" + "b"', {}, "ab"),
    ("name + '!'", {"name": "Ada"}, "Ada!"),
    ("amount * 1.2", ORDER, 180),
    # if, quantifiers, for
    ('if amount > 100 then "big" else "small"', ORDER, "big"),
    ("if x then 1 else 2", {}, 2),
    ("if 1 then 1 else 2", {}, 2),
    ("some x in [1, 2, 3] satisfies x > 2", {}, True),
    ("some x in [1, 2, 3] satisfies x > 3", {}, False),
    ("every x in [1, 2, 3] satisfies x > 0", {}, True),
    ("every x in [1, 2, 3] satisfies x > 1", {}, False),
    ("every x in [] satisfies false", {}, True),
    ("some x in missing satisfies x", {}, None),
    ("some i in items satisfies i.price > 30", ORDER, True),
    ("for x in [1, 2, 3] return x * 2", {}, [2, 4, 6]),
    ("for x in 1..3 return x", {}, [1, 2, 3]),
    ("for x in 3..1 return x", {}, [3, 2, 1]),
    ("for x in [1, 2], y in [10, 20] return x + y", {}, [11, 21, 12, 22]),
    ("for x in [[1, 2], [3]], y in x return y", {}, [1, 2, 3]),
    ("for i in items return i.price * i.qty", ORDER, [20, 15, 80]),
    ("for x in missing return x", {}, None),
    ("sum(for i in items return i.price * i.qty)", ORDER, 115),
    # string functions
    ('string length("héllo")', {}, 5),
    ('upper case("abc")', {}, "ABC"),
    ('lower case("ABC")', {}, "abc"),
    ('substring("foobar", 3)', {}, "obar"),
    ('substring("foobar", 3, 3)', {}, "oba"),
    ('substring("foobar", -2, 1)', {}, "a"),
    ('substring("foobar", 0, 2)', {}, "fo"),
    ('substring before("foobar", "bar")', {}, "foo"),
    ('substring after("foobar", "ob")', {}, "ar"),
    ('substring after("foobar", "x")', {}, ""),
    ('contains("foobar", "ob")', {}, True),
    ('starts with("foobar", "fo")', {}, True),
    ('ends with("foobar", "r")', {}, True),
    ('matches("abc-123", "[a-z]+-\\d+")', {}, True),
    ('matches("ABC", "abc", "i")', {}, True),
    ('replace("abc", "b", "x")', {}, "axc"),
    ('replace("2024-01-31", "(\\d+)-(\\d+)-(\\d+)", "$3/$2/$1")', {}, "31/01/2024"),
    ('split("a,b,,c", ",")', {}, ["a", "b", "", "c"]),
    ('string join(["a", "b", null], "-")', {}, "a-b"),
    ('string join(["a", "b"])', {}, "ab"),
    ('trim("  x ")', {}, "x"),
    ('extract("a1b22", "\\d+")', {}, ["1", "22"]),
    ("upper case(x)", {}, None),
    # list functions
    ("count([1, 2, 3])", {}, 3),
    ("sum([1, 2, 3])", {}, 6),
    ("sum(1, 2, 3)", {}, 6),
    ("sum([])", {}, 0),
    ("sum([0.1, 0.2])", {}, 0.3),  # literals are decimal
    ("sum(xs)", {"xs": [0.1, 0.2]}, 0.30000000000000004),  # the caller's floats stay floats
    ("sum([1.1, 2.2])", {}, 3.3),
    ("min([3, 1, 2])", {}, 1),
    ("max(3, 1, 2)", {}, 3),
    ('max(["a", "c", "b"])', {}, "c"),
    ("min([])", {}, None),
    ("mean([1, 2, 3, 4])", {}, 2.5),
    ("median([3, 1, 2])", {}, 2),
    ("product([2, 3])", {}, 6),
    ("all([true, true])", {}, True),
    ("any([false, true])", {}, True),
    ("list contains([1, 2], 2)", {}, True),
    ("list contains([1, null], null)", {}, True),
    ("append([1], 2, 3)", {}, [1, 2, 3]),
    ("concatenate([1], [2, 3])", {}, [1, 2, 3]),
    ("insert before([1, 3], 2, 2)", {}, [1, 2, 3]),
    ("remove([1, 2, 3], 2)", {}, [1, 3]),
    ("sublist([1, 2, 3], 2)", {}, [2, 3]),
    ("distinct values([1, 2, 1, 1.0, true, [1], [1]])", {}, [1, 2, True, [1]]),
    ("union([1, 2], [2, 3])", {}, [1, 2, 3]),
    ("flatten([1, [2, [3]]])", {}, [1, 2, 3]),
    ("index of([1, 2, 1], 1)", {}, [1, 3]),
    ("reverse([1, 2, 3])", {}, [3, 2, 1]),
    ("sort([3, 1, 2])", {}, [1, 2, 3]),
    ('sort(["b", "a"])', {}, ["a", "b"]),
    ("is empty([])", {}, True),
    ("is empty([1])", {}, False),
    # numeric functions
    ("abs(-3)", {}, 3),
    ("floor(1.7)", {}, 1),
    ("floor(-1.5)", {}, -2),
    ("ceiling(1.2)", {}, 2),
    ("floor(1.789, 2)", {}, 1.78),
    ("decimal(1/3, 2)", {}, 0.33),
    ("decimal(2.5, 0)", {}, 2),
    ("round half up(2.5)", {}, 3),
    ("round half even(2.5)", {}, 2),
    ("round up(1.1)", {}, 2),
    ("round down(-1.9)", {}, -1),
    ("modulo(10, 3)", {}, 1),
    ("modulo(-5, 3)", {}, 1),
    ("modulo(5, -3)", {}, -1),
    ("modulo(7.5, 2)", {}, 1.5),
    ("modulo(1, 0)", {}, None),
    ("sqrt(16)", {}, 4),
    ("sqrt(-1)", {}, None),
    ("odd(3)", {}, True),
    ("even(3)", {}, False),
    # conversion
    ("string(1.10)", {}, "1.1"),
    ("string(10)", {}, "10"),
    ("string(true)", {}, "true"),
    ("string(null)", {}, None),
    ('string([1, "a", {b: null}])', {}, '[1, "a", {b: null}]'),
    ("string(x)", {"x": 1e20}, "100000000000000000000"),
    ('number("12")', {}, 12),
    ('number("-1.50")', {}, -1.5),
    ('number("abc")', {}, None),
    ("number(5)", {}, 5),
    ('"n=" + string(n)', {"n": 3}, "n=3"),
    # null checks
    ("is defined(x)", {"x": 1}, True),
    ("is defined(x)", {}, False),
    ("get or else(x, 5)", {}, 5),
    ('get value({a: 1}, "a")', {}, 1),
    ("get entries({a: 1})", {}, [{"key": "a", "value": 1}]),
    # instance of
    ('"s" instance of string', {}, True),
    ("1.5 instance of number", {}, True),
    ("true instance of boolean", {}, True),
    ("[] instance of list", {}, True),
    ("{} instance of context", {}, True),
    ("1 instance of string", {}, False),
    ("null instance of Any", {}, False),
    ('date("2024-01-02") instance of date', {}, True),
    ('date and time("2024-01-02T10:00:00") instance of date and time', {}, True),
    # dates and durations
    ('date("2024-01-31")', {}, date(2024, 1, 31)),
    ("date(2024, 2, 29)", {}, date(2024, 2, 29)),
    ('date("nope")', {}, None),
    ('date("2024-01-31") + duration("P1D")', {}, date(2024, 2, 1)),
    ('date("2024-01-31") + duration("P1M")', {}, date(2024, 2, 29)),
    (
        'date and time("2024-01-02T10:00:00Z") + duration("PT90M")',
        {},
        datetime(2024, 1, 2, 11, 30, tzinfo=UTC),
    ),
    ('date("2024-03-01") - date("2024-02-01")', {}, timedelta(days=29)),
    ('date("2024-03-01") > date("2024-02-01")', {}, True),
    ('duration("PT1H") > duration("PT59M")', {}, True),
    ('duration("PT1H") * 2', {}, timedelta(hours=2)),
    ('date("2024-03-01").year', {}, 2024),
    ('date("2024-01-01") < date and time("2024-01-01T00:00:01Z")', {}, True),
    ('date("2024-01-02") > date and time("2024-01-01T23:00:00")', {}, True),
    ('duration("P1M") * 2', {}, isodate.Duration(months=2)),
    ('string(date and time("2024-01-01T10:00:00Z"))', {}, "2024-01-01T10:00:00Z"),
    ('date and time("2024-03-01T12:30:00").hour', {}, 12),
    ('duration("P2DT3H").hours', {}, 3),
    ('string(duration("PT1H30M"))', {}, "PT1H30M"),
    ('string(date("2024-03-01"))', {}, "2024-03-01"),
    ("d < today()", {"d": date(2000, 1, 1)}, True),
    ("now() > d", {"d": datetime(2000, 1, 1, tzinfo=UTC)}, True),
    # multi-word names work across whitespace
    ('string   length("ab")', {}, 2),
    ('string\tlength ("ab")', {}, 2),
    # a variable may share a function's name
    ("string + date", {"string": "a", "date": "b"}, "ab"),
]


@pytest.mark.parametrize(("text", "variables", "expected"), CASES)
def test_evaluates(text: str, variables: dict[str, Any], expected: Any) -> None:
    result = evaluate(text, variables)
    assert result == expected
    # No Python truthiness or int/bool confusion: True == 1 in Python, not here.
    assert type(result) is type(expected) or (
        isinstance(result, int | float) and isinstance(expected, int | float)
    )


def test_results_are_json_friendly() -> None:
    # Decimal literals are exact inside, but come out as int or float.
    assert type(evaluate("1.5 * 2")) is int
    assert type(evaluate("1.25")) is float
    assert type(evaluate("[1.5]")[0]) is float
    assert type(evaluate("{a: 0.5}")["a"]) is float


CONDITIONS: list[tuple[str, dict[str, Any], bool]] = [
    ('amount > 100 and status = "open"', ORDER, True),
    ('amount > 100 and status = "closed"', ORDER, False),
    ("missing > 100", {}, False),
    ("flag", {"flag": None}, False),
    ("flag", {"flag": True}, True),
    ("true and x", {}, False),
    ("not(x)", {}, False),
]


@pytest.mark.parametrize(("text", "variables", "expected"), CONDITIONS)
def test_conditions_treat_null_as_false(
    text: str, variables: dict[str, Any], expected: bool
) -> None:
    assert evaluate_condition(text, variables) is expected


@pytest.mark.parametrize("text", ["amount", '"true"', "0", "[true]"])
def test_condition_that_is_not_boolean_is_an_error(text: str) -> None:
    with pytest.raises(ExpressionError, match="must be true or false"):
        evaluate_condition(text, {"amount": 5})


def test_compile_once_evaluate_many() -> None:
    compiled = compile_expression("x * 2")
    assert isinstance(compiled, CompiledExpression)
    assert compile_expression("x * 2") is compiled  # cached
    assert [compiled.evaluate({"x": n}) for n in range(3)] == [0, 2, 4]
    assert compiled.evaluate() is None
    assert compiled.text == "x * 2"


def test_variables_are_not_modified() -> None:
    variables = {"items": [3, 1, 2], "ctx": {"a": 1}}
    evaluate("sort(items)", variables)
    evaluate("append(items, 4)", variables)
    evaluate("reverse(items)", variables)
    assert variables == {"items": [3, 1, 2], "ctx": {"a": 1}}


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ('amount > 100 and status = "open"', {"amount", "status"}),
        ("customer.address.city", {"customer"}),
        ("for x in items return x + rate", {"items", "rate"}),
        ("some x in xs, y in x satisfies y > limit", {"xs", "limit"}),
        ("items[price > limit]", {"items", "price", "limit"}),
        ("[1, 2][item > 1]", set()),
        ("{a: 1, b: a + c}", {"c"}),
        ("string length(name)", {"name"}),
        ("1 + 2", set()),
    ],
)
def test_variable_names(text: str, names: set[str]) -> None:
    assert variable_names(text) == frozenset(names)


def test_function_names_are_published() -> None:
    for name in ("string length", "upper case", "sum", "list contains", "decimal", "is defined"):
        assert name in FUNCTION_NAMES


def test_mapping_that_is_not_a_dict() -> None:
    from types import MappingProxyType

    assert evaluate("a.b + 1", MappingProxyType({"a": MappingProxyType({"b": 1})})) == 2
