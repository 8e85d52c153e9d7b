"""Checking a completion's variables against the task's form, before the command is sent.

The API finds the checker on `app.state.form_checker` (a test sets its own); the default reads
the form schema from the registry (`services.definitions.forms_store.FormStore`, the API's
`form_schemas` table) and validates with `laneway.forms.validate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from psycopg_pool import ConnectionPool

from laneway.forms import validate
from services.definitions.forms_store import FormStore

__all__ = ["FieldProblem", "FormChecker", "UnknownForm", "registry_checker"]

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

    forms = FormStore(pool)

    def check(form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
        schema = forms.get(form_id)
        if schema is None:
            raise UnknownForm(form_id)
        return [FieldProblem(e.field, e.message) for e in validate(schema, variables)]

    return check
