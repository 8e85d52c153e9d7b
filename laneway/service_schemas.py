"""Each service's own PostgreSQL schema, named the same way by every service.

A service keeps its tables and its migrations in a schema of its own: `definitions`,
`worklist`, `audit`. `LANEWAY_DB_SCHEMA`, when set, is a base that every schema name starts
with (`<base>_<service>`): the tests give each run its own base, so runs never meet. A service
that reads another's table (only through `laneway.shared_reads`) finds it by the same rule.
"""

from __future__ import annotations

from collections.abc import Mapping

from laneway.settings import SettingsError, database_schema

__all__ = ["MAX_IDENTIFIER", "SERVICES_WITH_TABLES", "schema_name", "service_schema"]

SERVICES_WITH_TABLES = ("definitions", "worklist", "audit", "triggers")
"""The services that own tables, each in its own schema."""
MAX_IDENTIFIER = 63
"""PostgreSQL's longest identifier (NAMEDATALEN - 1); a longer name would be cut silently."""


def schema_name(base: str | None, service: str) -> str:
    """`service`'s schema: the service's name, or `<base>_<service>` under a base."""
    name = service if base is None else f"{base}_{service}"
    if len(name) > MAX_IDENTIFIER:
        raise SettingsError(
            f"Expected LANEWAY_DB_SCHEMA to leave room for the service name ({service!r}) "
            f"within {MAX_IDENTIFIER} characters, but {name!r} has {len(name)}")
    return name


def service_schema(env: Mapping[str, str], service: str) -> str:
    """`service`'s schema under the environment's `LANEWAY_DB_SCHEMA` base (if any)."""
    return schema_name(database_schema(env), service)
