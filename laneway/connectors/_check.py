"""The deploy-time check of connector attributes: every job element whose type is an installed
connector is checked against that connector's declared `attributes` (laneway/attributes.py), so
a missing `laneway:url` or a `laneway:maxTokens="many"` refuses the deploy with the element's
id and line instead of failing every job later.

A type that no installed connector serves is not refused: a worker outside Laneway (or a
connector installed only on the worker hosts) may take it.

Beyond the declarations, a `response` task in mode task is checked against its timer boundary
events: `laneway:deadline` must last as long as the interrupting timer that ends the task
(refused otherwise), and a task without one is a warning (`connector_warnings`).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from laneway.attributes import problems
from laneway.connectors._api import Connector
from laneway.connectors._registry import discover
from laneway.connectors.builtin.response import ResponseConnector, deadline_findings
from laneway.model import Definitions
from laneway.problems import Problem

__all__ = ["check_connectors", "connector_warnings", "installed_connectors"]

_PREFIX = "laneway:"


@cache
def installed_connectors() -> Mapping[str, Connector]:
    """The connectors of this installation, found once per process (every deploy asks)."""
    return discover().connectors


def check_connectors(definitions: Definitions,
                     connectors: Mapping[str, Connector] | None = None) -> list[Problem]:
    """What refuses the file's job elements under their connectors' declared attributes."""
    found = installed_connectors() if connectors is None else connectors
    out: list[Problem] = []
    for process in definitions.processes:
        for node in process.nodes.values():
            connector = found.get(node.job_type or "")
            if connector is None or not connector.attributes:
                continue
            # connectors read `laneway:<name>` as written (Job.attributes), so the check does too
            values = {k[len(_PREFIX):]: v for k, v in node.attrs.items() if k.startswith(_PREFIX)}
            out.extend(Problem(definitions.file, node.line, node.id,
                               f"{message} (the {connector.type} connector)")
                       for message in problems(connector.attributes, values))
            if isinstance(connector, ResponseConnector):
                out.extend(Problem(definitions.file, node.line, node.id,
                                   f"{message} (the {connector.type} connector)")
                           for message in deadline_findings(node, process)[0])
    return out


def connector_warnings(definitions: Definitions,
                       connectors: Mapping[str, Connector] | None = None) -> list[Problem]:
    """What is said about the file's job elements but does not refuse them: a `response` task
    in mode task without an interrupting timer boundary event."""
    found = installed_connectors() if connectors is None else connectors
    out: list[Problem] = []
    for process in definitions.processes:
        for node in process.nodes.values():
            connector = found.get(node.job_type or "")
            if isinstance(connector, ResponseConnector):
                out.extend(Problem(definitions.file, node.line, node.id,
                                   f"{message} (the {connector.type} connector)")
                           for message in deadline_findings(node, process)[1])
    return out
