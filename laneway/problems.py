"""Problems found in a diagram, reported as `FILE:LINE: element 'ID': message`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a diagram, located by file, line and element id."""

    file: str
    line: int
    element_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:"
        if self.element_id:
            return f"{where} element '{self.element_id}': {self.message}"
        return f"{where} {self.message}"


class DiagramError(Exception):
    """A diagram was refused; `problems` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UnreadableInput(Exception):
    """The input could not be read at all (missing file, permission, a directory): CLI exit 2.

    Malformed XML is not this: it is a `DiagramError` with the line, as any other problem.
    """
