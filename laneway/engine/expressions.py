"""The engine's use of the expression language: conditions, mappings, keys and timers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from laneway.bpmn._expressions import make_expression
from laneway.bpmn._io_values import SCRIPT_RESOURCE
from laneway.expr import ExpressionError, compile_expression
from laneway.model import Expression

_OPAQUE_LANGUAGES = frozenset({"groovy", "javascript", "js", "ecmascript", "ruby"})
_NOT_EVALUATED = _OPAQUE_LANGUAGES | {SCRIPT_RESOURCE}


def compiles(expression: Expression) -> bool:
    """Whether the engine itself can evaluate this expression."""
    try:
        compile_expression(expression.text)
    except ExpressionError:
        return False
    return True


def evaluate(expression: Expression, variables: Mapping[str, Any]) -> Any:
    """The value of an expression; raises ExpressionError."""
    # one look-up on the hot path: most expressions are neither opaque nor a resource
    if expression.language in _NOT_EVALUATED:
        _refuse(expression)
    return compile_expression(expression.text).evaluate(variables)


def _refuse(expression: Expression) -> None:
    if expression.language in _OPAQUE_LANGUAGES:
        # e.g. a Camunda 7 `camunda:script` parameter: never read a script as our language
        # (JavaScript ones run in the sandbox: behaviours/mapping_scripts.py)
        raise ExpressionError(
            f"'{_short(expression.raw)}' is a {expression.language} script, and the engine "
            "runs only JavaScript in its sandbox (a script in another language needs a "
            "worker: compute the value in a script task with a job type)",
            expression.text,
        )
    if expression.language == SCRIPT_RESOURCE:
        raise ExpressionError(
            f"the script is the external resource '{_short(expression.raw)}', which the "
            "engine never reads: write the script inside the parameter",
            expression.text,
        )


def _short(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= 60 else one_line[:57] + "..."


def evaluate_condition(expression: Expression, variables: Mapping[str, Any]) -> bool:
    """A condition's truth: null counts as false, as in FEEL; a result that is neither a
    boolean nor null raises ExpressionError (an incident), as in Zeebe."""
    return compile_expression(expression.text).evaluate_condition(variables)


def is_opaque(expression: Expression) -> bool:
    """A language the engine does not claim to evaluate even when the text happens to parse."""
    return (expression.language or "").lower() in _OPAQUE_LANGUAGES


def written_expression(raw: str) -> Expression | None:
    """An attribute value written as an expression (`=expr`, `${expr}`, `#{expr}`), or None
    when it is a literal (Camunda's `assignee="demo"`)."""
    expression = make_expression(raw)
    return expression if expression.language in ("feel", "juel") else None
