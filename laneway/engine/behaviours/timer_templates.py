"""Timer definitions that embed expressions in a text (`PT${secs}S`, `R${n}/PT${secs}S`, as
Camunda 7 and Flowable diagrams write them): each `${expr}` (or `#{expr}`) is a JUEL
expression whose value is put in its place when the timer is created; the text that results
is the timer.

At deploy, a template is refused only when it can never give a timer: its expressions read no
variables and the text they give is no timer, or, with a placeholder in place of each
expression, the text is not a timer although it starts like one (`PT${x}X`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from laneway.engine.expressions import evaluate
from laneway.expr import ExpressionError, variable_names
from laneway.model import Expression, TimerKind
from laneway.timers import TimerError, parse_timer

# `${...}` or `#{...}` without nested braces; a definition is at most a few hundred
# characters (the reader's bounds), and the pattern has no nested quantifiers
_EMBEDDED = re.compile(r"[$#]\{([^{}]*)\}")
# the shape of a literal timer (as in `waits._LITERAL_TIMER`)
_LOOKS_LIKE_TIMER = re.compile(r"^(P|R\d*/|RRULE:|DTSTART|@|\d{4}-\d\d)", re.IGNORECASE)


def is_template(text: str) -> bool:
    """Whether the text embeds at least one `${...}` among other text."""
    return _EMBEDDED.search(text) is not None


def substitute(text: str, seen: Mapping[str, Any],
               as_text: Callable[[Any], str]) -> str:
    """The text with each embedded expression replaced by its value (`as_text` formats it).
    Raises ExpressionError."""
    def value_of(match: re.Match[str]) -> str:
        inner = match.group(1)
        value = evaluate(Expression(inner, match.group(0), "juel"), seen)
        if value is None:
            raise ExpressionError(f"Expected '{match.group(0)}' to give a value, but it is null",
                                  inner)
        return as_text(value)
    return _EMBEDDED.sub(value_of, text)


def template_problem(kind: TimerKind, text: str, as_text: Callable[[Any], str]) -> str | None:
    """Why a template can never give a timer, or None when variables may complete it."""
    inner = [m.group(1) for m in _EMBEDDED.finditer(text)]
    try:
        constant = not any(variable_names(e) for e in inner)
    except ExpressionError:
        return None  # not our expression language: judged at run time
    if constant:
        try:
            parse_timer(kind, substitute(text, {}, as_text))
        except ExpressionError:
            return None
        except TimerError as exc:
            return str(exc)
        return None
    placeholder = _EMBEDDED.sub("1", text)
    try:
        parse_timer(kind, placeholder)
    except TimerError as exc:
        if _LOOKS_LIKE_TIMER.match(placeholder.strip()):
            return f"with any value in place of its expressions: {exc}"
    return None
