"""Warnings about conditions written for the engine that it hands to a decision handler.

A `${...}` (JUEL) condition on an exclusive or inclusive gateway that does not compile - a
method outside the JUEL bridge's list, a syntax error - is not refused: the gateway asks a
decision handler, as for any condition the engine cannot evaluate (a bean call such as
`${approvalService.check(x)}` may well be meant for one). `laneway validate` says so, so a typo
in a method name is seen before the first decision job appears.
"""

from __future__ import annotations

from laneway.expr import ExpressionError, compile_expression
from laneway.model import Definitions, NodeKind
from laneway.problems import Problem

_DECIDING = frozenset({NodeKind.EXCLUSIVE_GATEWAY, NodeKind.INCLUSIVE_GATEWAY})


def gateway_condition_warnings(definitions: Definitions) -> list[Problem]:
    """One warning per JUEL gateway condition the engine cannot evaluate, in file order."""
    out: list[Problem] = []
    for process in definitions.processes:
        for flow in process.flows.values():
            condition = flow.condition
            source = process.nodes.get(flow.source)
            if condition is None or condition.language != "juel" or source is None:
                continue
            if source.kind not in _DECIDING:
                continue  # elsewhere the deploy refuses it (engine/check.py)
            try:
                compile_expression(condition.text)
            except ExpressionError as exc:
                out.append(Problem(
                    definitions.file, flow.line, flow.id,
                    f"condition '{condition.raw.strip()}' is not evaluated by the engine "
                    f"({exc.message}): gateway '{source.id}' will ask a decision handler"))
    return out
