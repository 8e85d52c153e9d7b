"""Checking a completion's variables against the task's form, before the command is sent.

The form schemas are the definitions service's (its form registry, `PUT /api/form-schemas`):
the default checker reads them through `laneway.shared_reads.FormSchemas` (read only, from
that service's schema) and validates with `laneway.forms.validate`. A test passes its own
checker in the worklist's `WorklistDeps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from psycopg_pool import PoolTimeout

from laneway.forms import FormSchemaError, validate
from laneway.shared_reads import FormSchemas

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


def registry_checker(forms: FormSchemas) -> FormChecker:
    """The checker over the definitions service's form registry."""

    def check(form_id: str, variables: Mapping[str, Any]) -> list[FieldProblem]:
        try:
            schema = forms.get(form_id)
        except PoolTimeout:
            raise  # no connection to give: not asked twice
        except psycopg.OperationalError:
            # the worklist's pool looks at a connection without a round trip
            # (`laneway.db.check_if_ended`): one ended after that look fails the read, which
            # changes nothing, so it is done once more (as the task routes' own reads)
            schema = forms.get(form_id)
        if schema is None:
            raise UnknownForm(form_id)
        try:
            return [FieldProblem(e.field, e.message) for e in validate(schema, variables)]
        except FormSchemaError:
            # stored before a stricter check at upload: unusable until uploaded again
            raise UnknownForm(form_id) from None

    return check
