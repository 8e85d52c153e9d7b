"""Laneway's sandboxed expression language: a FEEL subset with JUEL/Python/JavaScript bridges.

Used for sequence-flow conditions, input/output mappings, timers, multi-instance settings,
correlation keys and FEEL script tasks. See docs/expressions.md for the language.

    >>> evaluate_condition('amount > 100 and status = "open"', {"amount": 150, "status": "open"})
    True
    >>> compile_expression("for x in items return x * 2").evaluate({"items": [1, 2]})
    [2, 4]
"""

from laneway.expr._compile import (
    CompiledExpression,
    compile_expression,
    evaluate,
    evaluate_condition,
    variable_names,
)
from laneway.expr._errors import ExpressionError
from laneway.expr._functions import FUNCTIONS as _FUNCTIONS

#: Names of the built-in functions, for editors and documentation.
FUNCTION_NAMES: frozenset[str] = frozenset(_FUNCTIONS)

__all__ = [
    "FUNCTION_NAMES",
    "CompiledExpression",
    "ExpressionError",
    "compile_expression",
    "evaluate",
    "evaluate_condition",
    "variable_names",
]
