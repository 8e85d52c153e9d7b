"""Dialect bridges: conditions written for JUEL (Camunda 7, Activiti, Flowable), Python
(SpiffWorkflow) and JavaScript engines run unchanged.

The BPMN parser strips Camunda 8's leading `=` and JUEL's `${...}` before we see the text.
"""

from __future__ import annotations

from typing import Any

import pytest

from laneway.expr import ExpressionError, compile_expression, evaluate

VARS = {
    "order": {"total": 120, "lines": ["a"]},
    "amount": 150,
    "approved": True,
    "status": "open",
    "name": "",
    "tags": [],
    "n": None,
}

DIALECTS: list[tuple[str, str, Any]] = [
    # dialect, text, expected
    ("python/js", "amount == 150", True),
    ("python/js", "amount != 150", False),
    ("js", "amount > 100 && approved", True),
    ("js", "amount > 200 || approved", True),
    ("js", "!approved", False),
    ("js", "!(amount > 100)", False),
    ("js", "!approved == false", True),  # JS: (!approved) == false
    ("js", "approved ? 'yes' : 'no'", "yes"),
    ("js", "amount > 200 ? 1 : amount > 100 ? 2 : 3", 2),
    ("python", "not approved", False),
    ("python", "not approved and amount > 100", False),
    ("python", "True", True),
    ("python", "False or None", None),
    ("python", "n == None", True),
    ("python", "status in ['open', 'new']", True),
    ("python", "status not in ['open', 'new']", False),
    ("python", "amount >= 100 and status == 'open'", True),
    ("juel", "amount gt 100", True),
    ("juel", "amount ge 150", True),
    ("juel", "amount lt 100", False),
    ("juel", "amount le 150", True),
    ("juel", "status eq 'open'", True),
    ("juel", "status ne 'open'", False),
    ("juel", "amount gt 100 and approved", True),
    ("juel", "amount gt 100 or not approved", True),
    ("juel", "empty name", True),
    ("juel", "empty tags", True),
    ("juel", "empty n", True),
    ("juel", "empty status", False),
    ("juel", "!empty status", True),
    ("juel", "not empty status", True),
    ("juel", "n == null", True),
    ("feel", 'amount > 100 and status = "open"', True),
    ("juel/python/js", 'order["total"] > 100', True),
    ("juel/python/js", "order['no such']", None),
    ("juel/python/js", "order['lines'][1]", "a"),
    ("feel", "not(approved)", False),
]


@pytest.mark.parametrize(("dialect", "text", "expected"), DIALECTS)
def test_dialect(dialect: str, text: str, expected: Any) -> None:
    assert evaluate(text, VARS) == expected, dialect


@pytest.mark.parametrize(
    "text",
    [
        # Python reads this as not (a == b), JUEL as (not a) == b: refuse rather than guess.
        "not approved == false",
        "not amount > 100",
    ],
)
def test_ambiguous_not_is_refused(text: str) -> None:
    with pytest.raises(ExpressionError, match="Ambiguous 'not'"):
        compile_expression(text)


@pytest.mark.parametrize(
    "text",
    [
        "bean.check(",  # JUEL method calls are bridged (test_expr_juel.py), half a call is not
        "x === 1",
        "x if y else z",
        "x is None",
    ],
)
def test_unsupported_dialect_features_are_syntax_errors(text: str) -> None:
    with pytest.raises(ExpressionError, match="Syntax error"):
        compile_expression(text)


def test_reserved_words_are_not_names() -> None:
    # JUEL's operators are words; a variable called `lt` cannot be read by name...
    with pytest.raises(ExpressionError):
        compile_expression("lt + 1")
    # ...but words that merely start with one are ordinary names.
    assert evaluate("ltd + eqx + andy + notes", {"ltd": 1, "eqx": 2, "andy": 3, "notes": 4}) == 10
    # And backticks read any name.
    assert evaluate("`lt` + 1", {"lt": 1}) == 2
