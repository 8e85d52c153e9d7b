"""The lark grammar (`feel.lark`) and turning lark's parse errors into `ExpressionError`."""

from __future__ import annotations

import functools
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from laneway.expr._errors import ExpressionError, where

#: Longer texts are refused before parsing: expressions in diagrams are short, and this bounds
#: parse time and tree size whatever the input.
MAX_TEXT_LENGTH = 20_000

# Human names for the regex terminals; literal terminals are shown as their text.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "QUOTED_NAME": "a name",
    "FUNC_MULTI": "a function name",
    "TYPE_MULTI": "a type name",
    "NUMBER": "a number",
    "STRING": "a string",
    "$END": "the end of the expression",
}

# If the parser would accept any value here, say "a value" instead of listing thirty tokens.
_VALUE_STARTS = {"NAME", "NUMBER", "STRING"}


@functools.cache
def parser() -> Lark:
    """The LALR parser, built once per process from the packaged grammar."""
    grammar = resources.files("laneway.expr").joinpath("feel.lark").read_text(encoding="utf-8")
    # The basic lexer, not the contextual one: see the comment at the top of feel.lark.
    return Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True)


def parse(text: str) -> Tree[Token]:
    """Parse `text` into a lark tree, or raise `ExpressionError` saying where and what."""
    if len(text) > MAX_TEXT_LENGTH:
        raise ExpressionError(
            f"Expression is too long ({len(text)} characters; at most {MAX_TEXT_LENGTH})", text
        )
    if not text.strip():
        raise ExpressionError("Expression is empty", text, 0)
    lark = parser()
    try:
        return lark.parse(text)
    except UnexpectedToken as exc:
        raise _token_error(lark, text, exc) from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        raise ExpressionError(
            f"Syntax error at {where(text, pos)}: unexpected character {text[pos]!r}", text, pos
        ) from None
    except (UnexpectedInput, LarkError) as exc:  # defensive: lark has other error kinds
        raise ExpressionError(f"Syntax error: {exc}", text) from None


def _token_error(lark: Lark, text: str, exc: UnexpectedToken) -> ExpressionError:
    token = exc.token
    if token.type == "$END":
        pos = len(text.rstrip())
        found = "the end of the expression"
    else:
        pos = token.start_pos if token.start_pos is not None else 0
        found = repr(str(token))
    expected = _describe_expected(lark, exc.expected)
    return ExpressionError(
        f"Syntax error at {where(text, pos)}: expected {expected}, but found {found}", text, pos
    )


def _describe_expected(lark: Lark, names: set[str]) -> str:
    if names & _VALUE_STARTS:
        return "a value (a number, string, name, list, context or '(')"
    if "PLUS" in names and len(names) > 8:
        # After a complete operand LALR expects every operator; listing them all reads badly.
        return "an operator (such as and, or, =, <, +) or the end of the expression"
    shown: set[str] = set()
    for name in names:
        if name in _TERMINAL_NAMES:
            shown.add(_TERMINAL_NAMES[name])
            continue
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            shown.add(name)
            continue
        shown.add(repr(pattern.value) if isinstance(pattern, PatternStr) else name)
    options = sorted(shown)
    if len(options) > 8:
        options = [*options[:8], "..."]
    if len(options) == 1:
        return options[0]
    return "one of " + ", ".join(options)
