"""The one exception the expression language raises."""

from __future__ import annotations


class ExpressionError(Exception):
    """An expression could not be parsed or evaluated.

    `message` says what went wrong in words a diagram author understands (for syntax errors it
    names the column and what was expected). `text` is the expression as given; `position` is the
    0-based offset into `text` where the problem is, when known.
    """

    def __init__(self, message: str, text: str, position: int | None = None) -> None:
        self.message = message
        self.text = text
        self.position = position
        super().__init__(message)

    @property
    def line(self) -> int | None:
        """1-based line of `position`, or None."""
        if self.position is None:
            return None
        return self.text.count("\n", 0, self.position) + 1

    @property
    def column(self) -> int | None:
        """1-based column of `position` within its line, or None."""
        if self.position is None:
            return None
        return self.position - (self.text.rfind("\n", 0, self.position) + 1) + 1

    def __reduce__(self) -> tuple[type[ExpressionError], tuple[str, str, int | None]]:
        # Pickle with all three fields: errors may cross process boundaries in the engine.
        return (type(self), (self.message, self.text, self.position))


def where(text: str, position: int) -> str:
    """Say where `position` is in `text`: 'column 7', or 'line 2, column 3' for several lines."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    if "\n" in text:
        return f"line {line}, column {column}"
    return f"column {column}"


class EvalProblem(Exception):
    """Raised by value helpers that do not know the expression text.

    `CompiledExpression` turns it into an `ExpressionError` carrying the text.
    """

    def __init__(self, message: str, position: int | None = None) -> None:
        self.message = message
        self.position = position
        super().__init__(message)


class Mismatch(Exception):
    """An operator got a value of the wrong type.

    The operator node knows how its operands are written, so it words the message: `blame` is
    the index of the operand at fault (None: let the node choose) and `expected` what it should
    have been (None: the type of the other operand).
    """

    def __init__(self, expected: str | None = None, blame: int | None = None) -> None:
        self.expected = expected
        self.blame = blame
        super().__init__(expected or "type mismatch")
