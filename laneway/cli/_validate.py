"""`laneway validate FILE...`: can these diagrams be deployed and run?"""

from __future__ import annotations

from typing import TextIO

from laneway.bpmn import parse_file
from laneway.cli._output import print_problems
from laneway.diagram_check import check_definitions, diagram_warnings_of
from laneway.engine import DefinitionRepository
from laneway.model import Definitions
from laneway.problems import DiagramError, Problem, UnreadableInput

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2


def load(path: str, repository: DefinitionRepository) -> tuple[Definitions | None, list[Problem]]:
    """Parse and check one file. Raises `UnreadableInput` when it cannot be read at all."""
    try:
        definitions = parse_file(path)
    except DiagramError as exc:
        return None, list(exc.problems)
    return definitions, check_definitions(definitions, repository)


def validate_files(paths: list[str], out: TextIO, err: TextIO) -> int:
    """Check every file; print problems on `out`, unreadable files on `err`.

    Exit 0 when all are fine, 1 when any has problems, 2 when any could not be read (the
    other files are still checked, so one run shows everything). Warnings
    (`diagram_warnings_of`: loops that never wait, self-calling processes, a response task no
    timer ends) are printed after the problems and change no exit code.
    """
    problems: list[Problem] = []
    warnings: list[Problem] = []
    unreadable = False
    for path in paths:
        try:
            # A repository per file: two files may well define the same process id.
            definitions, found = load(path, DefinitionRepository())
        except UnreadableInput as exc:
            print(f"laneway validate: {exc}", file=err)
            unreadable = True
            continue
        problems.extend(found)
        if definitions is not None:
            # diagrams that deploy but may run away: said, but no reason to refuse them
            warnings.extend(diagram_warnings_of(definitions))
    print_problems(problems, out)
    print_problems(warnings, out)
    if unreadable:
        return EXIT_UNREADABLE
    return EXIT_PROBLEMS if problems else EXIT_OK
