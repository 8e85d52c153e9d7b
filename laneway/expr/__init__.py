"""Laneway's sandboxed expression language: a FEEL subset with JUEL/Python/JavaScript bridges.

Used for sequence-flow conditions, input/output mappings, timers, multi-instance settings,
correlation keys and FEEL script tasks. See docs/expressions.md for the language.

    >>> evaluate_condition('amount > 100 and status = "open"', {"amount": 150, "status": "open"})
    True
    >>> compile_expression("for x in items return x * 2").evaluate({"items": [1, 2]})
    [2, 4]
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import Token

from laneway.expr._compile import (
    CompiledExpression,
    compile_expression,
    evaluate,
    evaluate_condition,
    variable_names,
)
from laneway.expr._errors import ExpressionError
from laneway.expr._functions import FIXED_NOW as _FIXED_NOW
from laneway.expr._functions import FUNCTIONS as _FUNCTIONS


@contextmanager
def fixed_now(epoch_ms: int) -> Iterator[None]:
    """Within the block, `now()` and `today()` answer this instant (UTC), not the clock."""
    token = set_now(epoch_ms)
    try:
        yield
    finally:
        reset_now(token)


def set_now(epoch_ms: int) -> Token[int | None]:
    """What `fixed_now` does on entering its block, for a hot path that cannot afford a
    generator context manager (the engine, per command): `reset_now` with the token, in a
    `finally`, ends it."""
    return _FIXED_NOW.set(epoch_ms)


def reset_now(token: Token[int | None]) -> None:
    """Undo the `set_now` that gave `token`."""
    _FIXED_NOW.reset(token)


#: Names of the built-in functions, for editors and documentation.
FUNCTION_NAMES: frozenset[str] = frozenset(_FUNCTIONS)

__all__ = [
    "FUNCTION_NAMES",
    "CompiledExpression",
    "ExpressionError",
    "compile_expression",
    "evaluate",
    "evaluate_condition",
    "fixed_now",
    "reset_now",
    "set_now",
    "variable_names",
]
