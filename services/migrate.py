"""`python -m services.migrate`: apply every service's database migrations, the Helm chart's
pre-install and pre-upgrade hook Job.

Each service with tables also applies its own migrations when it starts (`laneway.db`), so
this is not the only way they run; it is the one that runs them once, before the new pods of
an upgrade start, so a migration's failure stops the upgrade instead of crash-looping the new
pods beside the old ones (docs/operations.md "Upgrading"). Every service's migrations run
under its own advisory lock and are recorded in its own table, so the Job and a starting
replica never apply a file twice.

Settings (environment): `DATABASE_URL` (the role that owns the tables), `LANEWAY_DB_SCHEMA`
(the base of the services' schemas, `laneway.service_schemas`), `LANEWAY_AUDIT_DATABASE_URL`
(when set, the audit writer role is checked and given its grants, as the audit service does at
start), `LANEWAY_STARTUP_TIMEOUT_S` (how long to wait for PostgreSQL, default 120).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psycopg

from laneway.db import prepare_database
from laneway.service.waits import Unavailable
from laneway.service_schemas import SERVICES_WITH_TABLES, service_schema
from laneway.settings import SettingsError, positive_float
from services.audit import db as audit_db
from services.definitions import db as definitions_db
from services.triggers import db as triggers_db
from services.worklist import db as worklist_db

__all__ = ["MIGRATIONS", "MIGRATIONS_DIRS", "main", "migrate_all"]

_log = logging.getLogger("laneway.migrate")

Step = Callable[[psycopg.Connection[Any]], list[str]]

MIGRATIONS: Mapping[str, Step] = {
    "definitions": definitions_db.migrate_on,
    "worklist": worklist_db.migrate,
    "audit": audit_db.migrate,
    "triggers": triggers_db.migrate,
}
"""Each service with tables and how its migrations are applied on a connection."""

MIGRATIONS_DIRS = {
    "definitions": definitions_db.MIGRATIONS_DIR,
    "worklist": worklist_db.MIGRATIONS_DIR,
    "audit": audit_db.MIGRATIONS_DIR,
    "triggers": triggers_db.MIGRATIONS_DIR,
}
"""Where each service's SQL files are (what `migrate_all` applies)."""


def migrate_all(environ: Mapping[str, str], timeout_s: float) -> dict[str, list[str]]:
    """Apply the migrations of every service with tables, each in its own schema; the names
    applied now, by service."""
    database_url = environ.get("DATABASE_URL", "").strip()
    if not database_url:
        raise SettingsError("Expected DATABASE_URL (the role that owns the tables) to be set, "
                            "but it is not")
    writer = environ.get("LANEWAY_AUDIT_DATABASE_URL", "").strip()
    applied: dict[str, list[str]] = {}
    for service in SERVICES_WITH_TABLES:
        step = MIGRATIONS[service]
        if service == "audit" and writer:
            step = audit_db.migrate_and_grant(writer)
        applied[service] = prepare_database(database_url, service_schema(environ, service),
                                            step, timeout_s)
    return applied


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Migrate; 0 when every service's schema is current, 2 when a setting is wrong, 1 when
    PostgreSQL or a migration failed."""
    del argv  # no arguments: everything is a setting, as for the services
    logging.basicConfig(level=logging.INFO, format="%(levelname)s migrate: %(message)s")
    env = os.environ if environ is None else environ
    try:
        timeout_s = positive_float(env, "LANEWAY_STARTUP_TIMEOUT_S", 120.0)
        applied = migrate_all(env, timeout_s)
    except SettingsError as exc:
        _log.error("%s", exc)
        return 2
    except (psycopg.Error, RuntimeError, TimeoutError, Unavailable) as exc:
        _log.error("migrations failed: %s", exc)
        return 1
    for service, names in applied.items():
        _log.info("%s: %s", service, ", ".join(names) if names else "up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
