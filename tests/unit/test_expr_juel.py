"""The JUEL bridge: Camunda 7 / Activiti / Flowable method calls mapped onto our own functions.

Every method of the fixed list, with Java's meaning (0-based positions, -1 when not found,
out of range an error); the refusals (unknown methods at compile time, wrong receivers at
evaluation); and that nothing reaches a Python object.
"""

from __future__ import annotations

from typing import Any

import pytest

from laneway.expr import ExpressionError, compile_expression, evaluate, variable_names
from laneway.expr._methods import METHODS

VARIABLES: dict[str, Any] = {
    "test": "abc",
    "padded": "  Hi  ",
    "order": {"items": [1, 2, 3], "owner": "Ann"},
    "empty_list": [],
    "empty_map": {},
    "names": ["ann", "bob", "ann"],
    "m": {"k": "v", "n": 2},
    "x": 1,
    "f": 7.9,
    "neg": -7.9,
    "flag": True,
    "nothing": None,
}

CASES: list[tuple[str, Any]] = [
    # strings
    ('test.contains("a")', True),
    ('test.contains("z")', False),
    ("test.contains('b')", True),
    ('test.equals("abc")', True),
    ('test.equals("ABC")', False),
    ('test.equalsIgnoreCase("ABC")', True),
    ("test.equalsIgnoreCase(1)", False),
    ('test.startsWith("ab")', True),
    ('test.endsWith("bc")', True),
    ('test.endsWith("ab")', False),
    ("test.isEmpty()", False),
    ('"".isEmpty()', True),
    ("test.length()", 3),
    ('test.indexOf("c")', 2),
    ('test.indexOf("z")', -1),
    ('"abcabc".lastIndexOf("b")', 4),
    ("test.substring(1)", "bc"),
    ("test.substring(0, 2)", "ab"),
    ("test.substring(3)", ""),
    ("test.charAt(1)", "b"),
    ("test.toUpperCase()", "ABC"),
    ('"AbC".toLowerCase()', "abc"),
    ("padded.trim()", "Hi"),
    ("padded.trim().toUpperCase().length()", 2),
    ('"a-b-c".replace("-", "+")', "a+b+c"),
    ('test.compareTo("abd")', -1),
    ("test.toString()", "abc"),
    # lists
    ("order.items.size() > 2", True),
    ("order.items.size()", 3),
    ("empty_list.size()", 0),
    ("order.items.get(0)", 1),
    ("order.items.get(2)", 3),
    ("order.items.contains(2)", True),
    ("order.items.contains(5)", False),
    ('names.indexOf("ann")', 0),
    ('names.lastIndexOf("ann")', 2),
    ('names.indexOf("zed")', -1),
    ("empty_list.isEmpty()", True),
    ("order.items.isEmpty()", False),
    # maps
    ('m.get("k")', "v"),
    ('m.get("missing")', None),
    ('m.containsKey("k")', True),
    ('m.containsKey("z")', False),
    ("m.containsValue(2)", True),
    ("m.size()", 2),
    ("empty_map.isEmpty()", True),
    ('order.get("owner").startsWith("A")', True),
    # numbers and booleans
    ("f.intValue()", 7),
    ("neg.intValue()", -7),
    ("f.longValue()", 7),
    ("x.doubleValue()", 1.0),
    ("x.floatValue()", 1.0),
    ("x.equals(1)", True),
    ("x.compareTo(2)", -1),
    ("flag.booleanValue()", True),
    ("x.toString()", "1"),
    # the execution object reads the variables the expression sees
    ('execution.getVariable("x")', 1),
    ("execution.getVariable('x') == 1", True),
    ('execution.getVariableLocal("test")', "abc"),
    ('execution.getVariable("unknown")', None),
    ('execution.hasVariable("x")', True),
    ('execution.hasVariable("nothing")', True),  # set, to null
    ('execution.hasVariable("unknown")', False),
    ('execution.hasVariableLocal("x")', True),
    ('execution.getVariable("order").items.size()', 3),
    # a null receiver is null, as an unknown variable is
    ('nothing.contains("a")', None),
    ("unknown.size()", None),
    # JUEL operators
    ("x eq 1 and test ne 'z'", True),
    ("x lt 2 && x le 1 && x gt 0 && x ge 1", True),
    ("not (x gt 1)", True),
    ("empty nothing", True),
    ("empty test", False),
    ("!empty order.items", True),
    ("7 div 2", 3.5),
    ("7 mod 3", 1),
    ("-7 mod 3", -1),  # Java's remainder: the sign of the dividend
    ("7 % -3", 1),
    ("7.5 % 2", 1.5),
    ("x mod 0", None),
    # Flowable's variable functions
    ("variables:get(x)", 1),
    ("vars:get('test')", "abc"),
    ('var:get("test")', "abc"),
    ("variables:getOrDefault(unknown, 5)", 5),
    ("variables:getOrDefault(x, 5)", 1),
    ("variables:exists(x)", True),
    ("variables:exists(unknown)", False),
    ("variables:isEmpty(empty_list)", True),
    ("variables:empty(unknown)", True),
    ("variables:isNotEmpty(test)", True),
    ("variables:equals(test, 'abc')", True),
    ("variables:eq(x, 2)", False),
    ("variables:notEquals(x, 2)", True),
    ("variables:ne(x, 1)", False),
    ("variables:lowerThan(x, 2)", True),
    ("variables:lt(x, 1)", False),
    ("variables:lte(x, 1)", True),
    ("variables:greaterThan(x, 0)", True),
    ("variables:gte(x, 2)", False),
    ("variables:gt(unknown, 0)", False),
    ("variables:contains(names, 'ann', 'bob')", True),
    ("variables:contains(names, 'ann', 'zed')", False),
    ("variables:containsAny(names, 'zed', 'bob')", True),
    ("variables:contains(test, 'a')", True),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_method(text: str, expected: Any) -> None:
    result = evaluate(text, VARIABLES)
    assert result == expected
    assert type(result) is type(expected)


def test_every_method_of_the_list_is_exercised() -> None:
    """The list in docs/expressions.md and the table agree, and each has a case above."""
    called = {name for name in METHODS if any(f".{name}(" in text for text, _ in CASES)}
    assert called == set(METHODS) - {"shortValue"}
    assert "shortValue" in METHODS


def test_double_quoted_and_single_quoted_strings_are_the_same() -> None:
    assert evaluate('test.contains("a")', VARIABLES) is evaluate("test.contains('a')", VARIABLES)


def test_execution_and_flowable_reads_are_listed_as_variables() -> None:
    names = variable_names('execution.getVariable("a") > variables:get(b) and c.size() > 0')
    assert names == {"a", "b", "c"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('"".getClass()', "Unknown method 'getClass'"),
        ("x.getClass().getName()", "Unknown method 'getClass'"),
        ("x.hashCode()", "Unknown method 'hashCode'"),
        ("test.notify()", "Unknown method 'notify'"),
        ('execution.setVariable("a", 1)', "Unknown method 'execution.setVariable'"),
        ("execution.getProcessEngineServices()", "Unknown method 'execution."),
        ("execution.getVariable()", "takes 1 argument"),
        ('test.contains("a", "b")', "takes 1 argument"),
        ("test.substring()", "takes 1 to 2 arguments"),
        ("variables:frobnicate(x)", "Syntax error"),
        ("variables:get(x, 1)", "takes 1 argument"),
        ("variables:eq(x)", "a variable name and a value"),
        ("variables:get(1 + 2)", "Expected a variable name"),
        ("x.__class__", "Names starting with '__'"),
        ("x.__class__.__mro__", "Names starting with '__'"),
        ("test.__len__()", "Names starting with '__'"),
        ("__builtins__", "Names starting with '__'"),
        ("`__import__`", "Names starting with '__'"),
    ],
)
def test_refused_at_compile_time(text: str, words: str) -> None:
    with pytest.raises(ExpressionError, match=words.replace("(", r"\(")) as caught:
        compile_expression(text)
    assert caught.value.position is not None


def test_unknown_method_names_its_column() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("a == 1 && b.frob()")
    assert caught.value.column == 13
    assert "column 13" in caught.value.message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("x.size()", "Method 'size' is for lists and maps, but 'x' is a number"),
        ("test.get(1)", "Method 'get' is for lists and maps, but 'test' is a string"),
        ("order.items.length()", "Method 'length' is for strings"),
        ("m.contains('k')", "Method 'contains' is for strings and lists"),
        ("test.intValue()", "Method 'intValue' is for numbers"),
        ("test.contains(1)", "Expected a string, but 1 is a number (argument 1 of 'contains')"),
        ("test.substring(5)", "out of range"),
        ("test.substring(2, 1)", "out of range"),
        ("test.substring(0.5)", "a whole number"),
        ("test.charAt(3)", "out of range"),
        ("order.items.get(3)", "Index 3 is out of range"),
        ("order.items.get(-1)", "Index -1 is out of range"),
        ("execution.getVariable(1)", "Expected a variable name"),
        ("variables:lt(test, 1)", "Cannot compare"),
    ],
)
def test_refused_at_evaluation(text: str, words: str) -> None:
    with pytest.raises(ExpressionError, match=words.replace("(", r"\(").replace(")", r"\)")):
        evaluate(text, VARIABLES)


class Secret:
    password = "hunter2"

    def contains(self, _: object) -> bool:  # pragma: no cover - must never be called
        raise AssertionError("a Python method was called")

    def size(self) -> int:  # pragma: no cover - must never be called
        raise AssertionError("a Python method was called")


@pytest.mark.parametrize(
    "text",
    ["secret.contains('a')", "secret.size()", "secret.isEmpty()", "secret.get('password')",
     "secret.toUpperCase()", "secret.intValue()"],
)
def test_methods_never_reach_python_objects(text: str) -> None:
    """A value of a foreign type is opaque: the bridge's own table answers, or refuses."""
    with pytest.raises(ExpressionError, match="unsupported value"):
        evaluate(text, {"secret": Secret()})


def test_python_string_methods_are_not_callable() -> None:
    # Python's own str methods are not the bridge's: `format`, `join`, `encode` are unknown.
    for name in ("format", "join", "encode", "split", "upper", "__getattribute__"):
        with pytest.raises(ExpressionError):
            compile_expression(f"test.{name}('x')")


def test_replace_is_bounded() -> None:
    with pytest.raises(ExpressionError, match="String is too long"):
        evaluate('s.replace("a", t)', {"s": "a" * 1000, "t": "b" * 2000})


def test_method_calls_count_against_the_step_budget() -> None:
    items = list(range(50_000))
    with pytest.raises(ExpressionError, match="too many steps"):
        evaluate("for i in 1..100 return items.contains(i)", {"items": items})


def test_method_chains_are_bounded_in_depth() -> None:
    text = "test" + ".trim()" * 200
    with pytest.raises(ExpressionError, match="nests too deeply"):
        compile_expression(text)


def test_div_and_mod_are_reserved_words() -> None:
    assert evaluate("`mod` + 1", {"mod": 1}) == 2
    with pytest.raises(ExpressionError):
        compile_expression("mod + 1")


def test_juel_conditions_through_the_engine_wrapper() -> None:
    """The BPMN reader strips `${...}`; what is left is what is compiled."""
    from laneway.bpmn._expressions import make_expression

    expression = make_expression('${test.contains("a") && order.items.size() > 2}')
    assert expression.language == "juel"
    assert evaluate(expression.text, VARIABLES) is True


def test_a_feel_context_without_spaces_is_not_a_flowable_function() -> None:
    assert evaluate("{vars:count(items)}", {"items": [1, 2]}) == {"vars": 2}
    assert evaluate("{var: 1}", {}) == {"var": 1}


def test_grammar_knows_every_flowable_function() -> None:
    from laneway.expr._methods import FLOWABLE_FUNCTIONS

    for name in FLOWABLE_FUNCTIONS:
        compile_expression(f"variables:{name}(x, 1)" if name not in (
            "get", "exists", "isEmpty", "empty", "isNotEmpty", "notEmpty") else
            f"variables:{name}(x)")
