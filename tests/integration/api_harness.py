"""The HTTP services (definitions, worklist, audit, triggers, the connectors' job API) in this
process behind one
client, over a private topic prefix and PostgreSQL schema base on the real stack: what the
API's integration modules share.

    with running_api(stack, "test.api", headers=AUTHOR) as api:
        api.client.post(...)             # FastAPI's TestClient, verifying the session's tokens

The client talks to an in-process stand-in of the edge (`EdgeApp`) that sends each request to
the service the path table (edge/routes.toml) names, as nginx does; a path the table does not
name (`/health`, `/metrics`) goes to the definitions service. Each service has its own schema
under the base (`<base>_definitions`, `<base>_worklist`, `<base>_audit`, `<base>_triggers`);
the audit service's instance projection runs as a thread unless `LANEWAY_PROJECTION=off`. The
worklist's own projection does not run: its tables are empty. Neither do the triggers'
reconciler and scheduler: a test writes the schedules it needs (`api.triggers.store`), and a
fire now answers 409 (the scheduler is "still starting"). The connectors service's job API
serves outside workers the type `JOB_API_TYPE` (its gateway runs in the client's loop).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import AsyncExitStack, ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from psycopg import sql
from starlette.types import ASGIApp, Receive, Scope, Send

from laneway import db
from laneway.connectors import Secrets
from laneway.db import prepare_database
from laneway.health import HealthChecks
from laneway.service_schemas import SERVICES_WITH_TABLES, schema_name
from laneway.shared_reads import FormSchemas
from laneway.topics import Topics
from laneway.triggers import installed_triggers
from scripts.edge import load, owner
from scripts.stack import Connections
from scripts.stack import Settings as StackSettings
from scripts.stack.testing import unique_name
from scripts.stack.topics import ensure_topics
from services.audit import db as audit_db
from services.audit.app import create_app as create_audit_app
from services.audit.deps import AuditDeps
from services.audit.metrics import InstanceMetrics
from services.audit.projection import InstanceProjection
from services.audit.settings import AuditSettings
from services.audit.settings import load_settings as audit_settings
from services.audit.traces import TraceQuery
from services.connectors.gateway import Gateway
from services.connectors.jobs_api import create_app as create_jobs_app
from services.connectors.settings import load_settings as connectors_settings
from services.definitions.app import create_app
from services.definitions.deps import ServiceDeps
from services.definitions.service import running
from services.definitions.settings import DefinitionsSettings, load_settings
from services.triggers import db as triggers_db
from services.triggers.app import create_app as create_triggers_app
from services.triggers.credentials import KEY_VARIABLE
from services.triggers.credentials import Vault as TriggersVault
from services.triggers.deps import TriggersDeps
from services.triggers.metrics import TriggersMetrics
from services.triggers.respond import SIGNING_SECRET, Responses, ResponseStore
from services.triggers.scheduler import Scheduler
from services.triggers.settings import load_settings as triggers_settings
from services.triggers.store import ScheduleStore
from services.worklist import db as worklist_db
from services.worklist.__main__ import open_pool as open_worklist_pool
from services.worklist.app import create_app as create_worklist_app
from services.worklist.deps import WorklistDeps
from services.worklist.forms import registry_checker
from services.worklist.settings import load_settings as worklist_settings
from tests.auth import auth_env, verifier

JOB_API_TYPE = "ext-api"
RESPONSE_SIGNING_KEY = "api-harness-response-signing-key-" + "0" * 16
"""The key the answer routes of the response connector check links with."""
RESPONSE_WEBHOOK_SECRET = "api-harness-response-webhook-" + "0" * 16
"""The secret a machine's signed answer to a response link is checked with."""
"""The job type the in-process job API serves to outside workers."""


def create_topics(conns: Connections, prefix: str) -> None:
    """Laneway's topics under `prefix`, as `make up` creates them (the one job topic:
    `JOB_API_TYPE`'s)."""
    ensure_topics(StackSettings.from_env({
        "KAFKA_BOOTSTRAP_SERVERS": conns.kafka_bootstrap_servers, "LANEWAY_TOPIC_PREFIX": prefix,
        "LANEWAY_JOB_TYPES": JOB_API_TYPE, "LANEWAY_PARTITIONS": str(conns.partitions)}))


def delete_topics(conns: Connections, prefix: str) -> None:
    admin = AdminClient({"bootstrap.servers": conns.kafka_bootstrap_servers})
    names = [n for n in admin.list_topics(timeout=10).topics if n.startswith(prefix)]
    if names:
        for future in admin.delete_topics(names, operation_timeout=30).values():
            future.result(timeout=30)


def drop_schema(conns: Connections, base: str) -> None:
    """Drop the services' schemas under `base` (and `base` itself, if a test made it)."""
    names = [base, *(schema_name(base, s) for s in SERVICES_WITH_TABLES)]
    with psycopg.connect(conns.database_url, autocommit=True) as conn:
        for name in names:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(name)))


def service_env(conns: Connections, prefix: str, base: str, **env: str) -> dict[str, str]:
    """The services' environment on the stack: the session's JWT keys, `prefix` and `base`."""
    return {**conns.env(), **auth_env(), "LANEWAY_TOPIC_PREFIX": prefix,
            "LANEWAY_DB_SCHEMA": base, "LANEWAY_STARTUP_TIMEOUT_S": "60",
            KEY_VARIABLE: "api-harness-triggers-key-" + "0" * 16,
            "LANEWAY_SECRET_" + SIGNING_SECRET.upper(): RESPONSE_SIGNING_KEY,
            "LANEWAY_SECRET_RESPONSE_WEBHOOK": RESPONSE_WEBHOOK_SECRET, **env}


def service_settings(conns: Connections, prefix: str, schema: str,
                     **env: str) -> DefinitionsSettings:
    """The definitions service's settings on the stack under schema base `schema`."""
    return load_settings(service_env(conns, prefix, schema, **env))


class EdgeApp:
    """The edge in process: each request goes to the app the path table names for its path
    and method (`scripts.edge.owner`), else to `default`."""

    def __init__(self, apps: Mapping[str, ASGIApp], default: str) -> None:
        self.apps = dict(apps)
        self.default = default
        self.routes = load()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # each app's own (the job API starts its gateway)
            async with AsyncExitStack() as started:
                while True:
                    message = await receive()
                    if message["type"] == "lifespan.startup":
                        for app in self.apps.values():
                            if isinstance(app, FastAPI):
                                await started.enter_async_context(
                                    app.router.lifespan_context(app))
                        await send({"type": "lifespan.startup.complete"})
                    elif message["type"] == "lifespan.shutdown":
                        break
            await send({"type": "lifespan.shutdown.complete"})
            return
        route = owner(self.routes, scope["path"])
        name = route.service_for(scope.get("method", "GET")) if route else self.default
        await self.apps[name](scope, receive, send)


@dataclass
class AuditParts:
    """The audit service's parts in this process."""

    settings: AuditSettings
    deps: AuditDeps
    metrics: InstanceMetrics
    projection: InstanceProjection | None

    @property
    def traces(self) -> TraceQuery | None:
        """The Jaeger query API the trace route reads (`LANEWAY_TRACES_QUERY_URL`), if set."""
        url = self.settings.traces_query_url
        return TraceQuery(url) if url else None

    @property
    def pool(self) -> Any:
        return self.deps.pool


@dataclass
class Api:
    """The running services: the client (through the edge), their parts, settings, the stack."""

    client: TestClient
    deps: ServiceDeps
    settings: DefinitionsSettings
    conns: Connections
    audit: AuditParts
    worklist: WorklistDeps
    schemas: tuple[str, ...]
    """Each service's schema: definitions, worklist, audit, triggers."""
    triggers: TriggersDeps

    @property
    def topics(self) -> Topics:
        return Topics(self.settings.topic_prefix)

    def openapi(self) -> dict[str, Any]:
        """The services' OpenAPI documents (each at `/openapi/<service>.json`) as one: every
        path and component of each; a test of "every route" reads them all."""
        merged: dict[str, Any] = {"paths": {}, "components": {}}
        for name in ("definitions", "worklist", "audit", "triggers", "connectors"):
            response = self.client.get(f"/openapi/{name}.json")
            assert response.status_code == 200, (name, response.text)
            spec = response.json()
            for path, operations in spec["paths"].items():
                # /api/instances: POST is the definitions', GET the audit's
                merged["paths"].setdefault(path, {}).update(operations)
            for kind, entries in spec.get("components", {}).items():
                merged["components"].setdefault(kind, {}).update(entries)
        return merged

    def _connect(self) -> psycopg.Connection[Any]:
        # every service's schema on the path: a test reads any service's tables by name
        return psycopg.connect(self.conns.database_url, autocommit=True,
                               options=f"-c search_path={','.join(self.schemas)}")

    def sql(self, query: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return conn.execute(query.encode(), params).fetchall()

    def execute(self, query: str, *params: Any) -> None:
        with self._connect() as conn:
            conn.execute(query.encode(), params)


A = TypeVar("A", bound=Api)


@contextmanager
def running_api(conns: Connections, name: str, api_type: type[A], *,
                schema: str | None = None, headers: dict[str, str] | None = None,
                **env: str) -> Iterator[A]:
    """The services started over a fresh prefix `<name>-<id>.` and, unless given, a fresh
    schema base; both are dropped at the end (a given base is the caller's)."""
    prefix = unique_name(name) + "."
    own_schema = schema is None
    base = schema or unique_name(name).replace("-", "_").replace(".", "_")
    create_topics(conns, prefix)
    environ = service_env(conns, prefix, base, **env)
    settings = load_settings(environ)
    try:
        with running(settings) as deps, ExitStack() as stack:
            audit = _audit(environ, stack)
            worklist = _worklist(environ, deps, settings, stack)
            triggers = _triggers(environ, deps, stack)
            jobs = connectors_settings({**environ, "LANEWAY_CONNECTOR_TYPES": "none",
                                        "LANEWAY_EXTERNAL_JOB_TYPES": JOB_API_TYPE})
            checks = HealthChecks("test")
            edge = EdgeApp({
                "definitions": create_app(settings, deps, verifier()),
                "audit": create_audit_app(verifier(), checks, CollectorRegistry(), audit.deps,
                                          traces=audit.traces),
                "worklist": create_worklist_app(verifier(), checks, CollectorRegistry(), worklist),
                "triggers": create_triggers_app(verifier(), checks, CollectorRegistry(),
                                                triggers),
                "connectors": create_jobs_app(verifier(), checks, lambda: Gateway(
                    jobs, asyncio.get_running_loop()), CollectorRegistry())},
                default="definitions")
            with TestClient(edge, headers=headers) as client:
                yield api_type(client, deps, settings, conns, audit, worklist,
                               tuple(schema_name(base, s) for s in SERVICES_WITH_TABLES),
                               triggers)
    finally:
        delete_topics(conns, prefix)
        if own_schema:
            drop_schema(conns, base)


def _audit(environ: Mapping[str, str], stack: ExitStack) -> AuditParts:
    settings = audit_settings(environ)
    common = settings.common
    prepare_database(common.database_url, settings.database_schema, audit_db.migrate, 30)
    pool = audit_db.open_pool(common.database_url, settings.database_schema)
    stack.callback(pool.close)
    metrics = InstanceMetrics(CollectorRegistry())
    projection = None
    if settings.projection_enabled:
        projection = InstanceProjection(
            lambda: audit_db.connect(common.database_url, settings.database_schema),
            common.kafka_bootstrap_servers, Topics(common.topic_prefix).state,
            settings.projection_group, metrics)
        projection.start()
        stack.callback(projection.stop)
    return AuditParts(settings, AuditDeps(pool), metrics, projection)


def _worklist(environ: Mapping[str, str], deps: ServiceDeps, definitions: DefinitionsSettings,
              stack: ExitStack) -> WorklistDeps:
    settings = worklist_settings(environ)
    common = settings.common
    prepare_database(common.database_url, settings.database_schema, worklist_db.migrate, 30)
    pool = open_worklist_pool(settings)
    stack.callback(pool.close)
    return WorklistDeps(pool=pool, publisher=deps.publisher,
                        forms=registry_checker(FormSchemas(pool, definitions.database_schema)),
                        answer_timeout_s=settings.task_answer_s)


def _triggers(environ: Mapping[str, str], deps: ServiceDeps, stack: ExitStack) -> TriggersDeps:
    settings = triggers_settings(environ)
    common = settings.common
    prepare_database(common.database_url, settings.database_schema, triggers_db.migrate, 30)
    pool = db.open_pool(common.database_url, settings.database_schema)
    stack.callback(pool.close)
    store = ScheduleStore(pool)
    secrets = Secrets(environ)
    vault = TriggersVault(secrets)
    metrics = TriggersMetrics(CollectorRegistry())
    installed = installed_triggers()
    scheduler = Scheduler(settings, store, vault, installed, deps.publisher, secrets, metrics)
    return TriggersDeps(store=store, vault=vault, publisher=deps.publisher, installed=installed,
                        scheduler=scheduler, metrics=metrics,
                        hook_max_bytes=settings.hook_max_bytes, fire_timeout_s=5.0,
                        responses=Responses(ResponseStore(pool), secrets, deps.publisher))
