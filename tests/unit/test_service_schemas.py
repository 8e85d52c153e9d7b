"""Each service's PostgreSQL schema is named one way by every service
(laneway/service_schemas.py)."""

from __future__ import annotations

import pytest

from laneway.service_schemas import schema_name, service_schema
from laneway.settings import SettingsError
from services.audit.settings import load_settings as audit_settings
from services.definitions.settings import load_settings as definitions_settings
from services.worklist.settings import load_settings as worklist_settings
from tests.auth import auth_env


def test_each_service_has_its_own_schema_and_knows_the_ones_it_reads() -> None:
    for env in ({}, {"LANEWAY_DB_SCHEMA": "run_1"}):
        definitions = definitions_settings({**auth_env(), **env})
        worklist = worklist_settings(env)
        audit = audit_settings(env)

        names = {definitions.database_schema, worklist.database_schema, audit.database_schema}
        assert len(names) == 3
        # the reads of another's table name it as its owner does
        assert worklist.definitions_schema == definitions.database_schema
        assert definitions.audit_schema == audit.database_schema
    assert service_schema({}, "audit") == "audit"
    assert service_schema({"LANEWAY_DB_SCHEMA": "run_1"}, "audit") == "run_1_audit"


def test_a_base_that_leaves_no_room_for_the_service_name_is_refused() -> None:
    with pytest.raises(SettingsError, match="within 63 characters"):
        schema_name("b" * 55, "definitions")
    with pytest.raises(SettingsError, match="lower-case SQL identifier"):
        service_schema({"LANEWAY_DB_SCHEMA": "Run-1"}, "audit")
