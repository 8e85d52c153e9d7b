"""Checking a completion's variables against the task's form, before the command is sent.

The API finds the checker on `app.state.form_checker` (a test sets its own); the default reads
the form schema from the registry (`services.definitions.forms_store.FormStore`) and validates
with `laneway.forms.validate`. Both come with the forms part of issue 5 and are looked up when
first needed, so the worklist runs before they land: until then a form is not checked (a
warning says so) and the engine takes the variables as they are.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

__all__ = ["FieldProblem", "FormChecker", "UnknownForm", "registry_checker"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One field of the submission that the form refuses."""

    field: str
    message: str


class UnknownForm(LookupError):
    """The task names a form the registry does not hold."""


class FormChecker(Protocol):
    """Validates `variables` against form `form_id`: the problems found (empty when valid);
    raises UnknownForm when there is no such form."""

    def __call__(self, form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
        """Check a submission."""


def registry_checker(pool: ConnectionPool) -> FormChecker:
    """The checker over the form registry in the API's database."""

    def check(form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
        try:
            forms = importlib.import_module("laneway.forms")
            store_module = importlib.import_module("services.definitions.forms_store")
        except ImportError:
            _log.warning("form %r not checked: the form registry is not installed", form_id)
            return []
        schema = store_module.FormStore(pool).get(form_id)
        if schema is None:
            raise UnknownForm(form_id)
        return [FieldProblem(str(e.field), str(e.message))
                for e in forms.validate(schema, dict(variables))]

    return check
