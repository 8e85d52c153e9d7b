"""A diagram checked the one way `laneway validate`, a deploy and the console's "Check" share:
parse, validate, then deploy it into a throwaway engine repository (what the engine core can
run), plus the warnings about diagrams that deploy but may run away.

    checked = check_diagram(data, "order.bpmn", limits)
    checked.problems   # what refuses the diagram (empty: it deploys)
    checked.warnings   # loops that never wait, self-calling processes, a response task
                       # without a timer boundary: said, not refused

One function, so the command line, the deploy's 422 and `POST /api/definitions/check` give
the same messages for the same file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from laneway.bpmn import Limits, parse, validate
from laneway.bpmn._warnings import diagram_warnings
from laneway.connectors._check import check_connectors, connector_warnings, installed_connectors
from laneway.engine import DefinitionRepository
from laneway.engine.dialect_warnings import gateway_condition_warnings
from laneway.model import Definitions
from laneway.problems import DiagramError, Problem
from laneway.triggers import check_triggers, installed_triggers

_log = logging.getLogger(__name__)

__all__ = ["Checked", "check_definitions", "check_diagram", "diagram_warnings_of", "in_order",
           "warm"]


@dataclass(frozen=True, slots=True)
class Checked:
    """What was found in one file: its parsed definitions (None when it does not parse), the
    problems that refuse it, the warnings that do not."""

    definitions: Definitions | None
    problems: list[Problem]
    warnings: list[Problem]


def warm() -> None:
    """Load what a check loads on its first call (the installed connectors and trigger types,
    seconds of imports), so a service's first check after its start is not the slow one."""
    installed_connectors()
    installed_triggers()


def check_definitions(definitions: Definitions, repository: DefinitionRepository
                      ) -> list[Problem]:
    """What `validate` finds plus what the engine refuses, for every process of the file.

    Every process is deployed, `isExecutable="false"` ones included: a partner pool that the
    engine could not run is worth knowing about before someone flips the flag. The processes
    are deployed into `repository` when nothing is wrong.
    """
    problems = list(validate(definitions))
    # a trigger's settings (a mailbox, a feed's URL, a cron) are the diagram's too: a missing
    # one refuses the deploy here rather than failing every poll later
    problems.extend(check_triggers(definitions))
    # so are a connector's attributes: checked against what the connector declares, the same
    # declaration its element template is made from
    problems.extend(check_connectors(definitions))
    try:
        repository.deploy(definitions)
    except DiagramError as exc:
        problems.extend(exc.problems)
    except Exception:
        # Indexing a process the validator already objected to may fail in ways that say less
        # than the problems found; those are reported. A failure on a clean diagram is a bug
        # and goes up to the caller's internal-error handling.
        if not problems:
            raise
        _log.debug("indexing a diagram with problems failed too", exc_info=True)
    return problems


def diagram_warnings_of(definitions: Definitions) -> list[Problem]:
    """What is said about a diagram that deploys but is not refused: loops that never wait,
    self-calling processes (`diagram_warnings`), a response task no timer ends, a JUEL gateway
    condition the engine hands to a decision handler (`gateway_condition_warnings`)."""
    return [*diagram_warnings(definitions), *connector_warnings(definitions),
            *gateway_condition_warnings(definitions)]


def check_diagram(data: bytes, file_name: str, limits: Limits | None = None) -> Checked:
    """Parse (within `limits`) and check a file held in memory; malformed XML, or a file over
    a limit, is a problem with its line, as any other."""
    try:
        definitions = parse(data, file_name, limits)
    except DiagramError as exc:
        return Checked(None, list(exc.problems), [])
    return Checked(definitions, check_definitions(definitions, DefinitionRepository()),
                   diagram_warnings_of(definitions))


def in_order(problems: list[Problem]) -> list[Problem]:
    """Problems sorted by file then line, each once: how `laneway validate` prints them."""
    return sorted(set(problems), key=lambda p: (p.file, p.line, p.element_id or "", p.message))
