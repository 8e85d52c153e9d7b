"""The HTTP API (services/definitions) in this process, over a private topic prefix and
PostgreSQL schema on the real stack: what the API's integration modules share.

    with running_api(stack, "test.api", headers=AUTHOR) as api:
        api.client.post(...)             # FastAPI's TestClient, verifying the session's tokens
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from confluent_kafka.admin import AdminClient
from fastapi.testclient import TestClient
from psycopg import sql

from laneway.topics import Topics
from scripts.stack import Connections
from scripts.stack import Settings as StackSettings
from scripts.stack.testing import unique_name
from scripts.stack.topics import ensure_topics
from services.definitions.app import create_app
from services.definitions.deps import ServiceDeps
from services.definitions.service import running
from services.definitions.settings import DefinitionsSettings, load_settings
from tests.auth import auth_env, verifier


def create_topics(conns: Connections, prefix: str) -> None:
    """Laneway's topics under `prefix`, as `make up` creates them (no job topics)."""
    ensure_topics(StackSettings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": conns.kafka_bootstrap_servers, "LANEWAY_TOPIC_PREFIX": prefix,
        "LANEWAY_JOB_TYPES": "", "LANEWAY_PARTITIONS": str(conns.partitions)}))


def delete_topics(conns: Connections, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": conns.kafka_bootstrap_servers})
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(timeout=30)


def drop_schema(conns: Connections, schema: str) -> None:
    with psycopg.connect(conns.database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def service_settings(conns: Connections, prefix: str, schema: str,
                     **env: str) -> DefinitionsSettings:
    """The service's settings on the stack, the session's JWT keys, `prefix` and `schema`."""
    return load_settings({**conns.env(), **auth_env(), "LANEWAY_TOPIC_PREFIX": prefix,
                          "LANEWAY_DB_SCHEMA": schema, "LANEWAY_STARTUP_TIMEOUT_S": "60",
                          **env})


@dataclass
class Api:
    """The running API: its client, its parts, settings and the stack."""

    client: TestClient
    deps: ServiceDeps
    settings: DefinitionsSettings
    conns: Connections

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_prefix)

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self.deps.pool.connection() as conn:
            return conn.execute(query.encode(), params).fetchall()

    def execute(self, query: str, *params: Any) -> None:
        with self.deps.pool.connection() as conn:
            conn.execute(query.encode(), params)


A = TypeVar("A", bound=Api)


@contextmanager
def running_api(conns: Connections, name: str, api_type: type[A], *,
                schema: str | None = None, headers: dict[str, str] | None = None,
                **env: str) -> Iterator[A]:
    """The service started (`running`) over a fresh prefix `<name>-<id>.` and, unless given,
    a fresh schema; both are dropped at the end (a given schema is the caller's)."""
    prefix = unique_name(name) + "."
    own_schema = schema is None
    schema = schema or unique_name(name).replace("-", "_").replace(".", "_")
    create_topics(conns, prefix)
    settings = service_settings(conns, prefix, schema, **env)
    try:
        with running(settings) as deps, \
                TestClient(create_app(settings, deps, verifier()), headers=headers) as client:
            yield api_type(client, deps, settings, conns)
    finally:
        delete_topics(conns, prefix)
        if own_schema:
            drop_schema(conns, schema)
