"""Semantic checks."""

from __future__ import annotations

from laneway.model import Definitions
from laneway.problems import Problem


def validate(defs: Definitions) -> list[Problem]:
    """Problems a modeler should fix before running the diagram."""
    return []
