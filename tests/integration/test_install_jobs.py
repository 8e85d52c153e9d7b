"""The chart's hook Jobs' programs against the local stack: `python -m services.migrate`
applies every service's migrations in its schema (and again is a no-op), `python -m
services.topics` creates every topic with its partitions and cleanup policy (and again leaves
them as they are)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import psycopg
import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from psycopg import sql

from laneway.service_schemas import SERVICES_WITH_TABLES, schema_name
from scripts.stack import Connections
from scripts.stack.testing import unique_name
from services import migrate, topics
from services.topics import TopicSettings, laneway_topics

_MIGRATION_TABLES = {"definitions": "schema_migrations",
                     "worklist": "worklist_schema_migrations",
                     "audit": "audit_schema_migrations",
                     "triggers": "triggers_schema_migrations"}


@pytest.fixture
def base(stack: Connections) -> Iterator[str]:
    name = unique_name("mig").replace("-", "_").replace(".", "_").lower()[:40]
    yield name
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        for service in SERVICES_WITH_TABLES:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(schema_name(name, service))))


def _recorded(database_url: str, schema: str, table: str) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(sql.SQL("SELECT name FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(table))).fetchall()
    return {row[0] for row in rows}


def test_migrate_applies_every_services_migrations_once(stack: Connections, base: str) -> None:
    env = {"DATABASE_URL": stack.database_url, "LANEWAY_DB_SCHEMA": base,
           "LANEWAY_STARTUP_TIMEOUT_S": "20"}

    first = migrate.migrate_all(env, 20.0)
    again = migrate.migrate_all(env, 20.0)

    for service in SERVICES_WITH_TABLES:
        files = {p.name for p in migrate.MIGRATIONS_DIRS[service].glob("*.sql")}
        assert set(first[service]) == files, service
        assert again[service] == [], service
        assert _recorded(stack.database_url, schema_name(base, service),
                         _MIGRATION_TABLES[service]) == files


def test_migrate_as_a_program_exits_0_and_2_without_a_database(stack: Connections,
                                                                base: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": stack.database_url,
           "LANEWAY_DB_SCHEMA": base, "LANEWAY_STARTUP_TIMEOUT_S": "20"}
    ok = subprocess.run([sys.executable, "-m", "services.migrate"], env=env,
                        capture_output=True, text=True, timeout=120, check=False)
    missing = subprocess.run([sys.executable, "-m", "services.migrate"],
                             env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                             timeout=60, check=False)

    assert ok.returncode == 0, ok.stderr
    assert "001_tasks.sql" in ok.stderr
    assert missing.returncode == 2
    assert "DATABASE_URL" in missing.stderr


def test_topics_are_created_with_partitions_and_policies(stack: Connections) -> None:
    prefix = unique_name("topics") + "."
    env = {"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": stack.kafka_bootstrap_servers,
           "LANEWAY_TOPIC_PREFIX": prefix, "LANEWAY_PARTITIONS": "3",
           "LANEWAY_REPLICATION_FACTOR": "1", "LANEWAY_JOB_TYPES": "http, io.acme:ftp:1",
           "LANEWAY_EVENTS_RETENTION_MS": "86400000", "LANEWAY_STARTUP_TIMEOUT_S": "30"}
    specs = laneway_topics(TopicSettings.from_env(env))
    admin = AdminClient({"bootstrap.servers": stack.kafka_bootstrap_servers})
    try:
        runs = [subprocess.run([sys.executable, "-m", "services.topics"], env=env,
                               capture_output=True, text=True, timeout=120, check=False)
                for _ in range(2)]

        assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
        assert runs[0].stderr.count("created topic") == len(specs) == 8
        assert "created topic" not in runs[1].stderr
        listed = admin.list_topics(timeout=30).topics
        for spec in specs:
            assert len(listed[spec.name].partitions) == spec.partitions, spec.name
        assert len(listed[f"{prefix}jobs.http"].partitions) == 3
        assert len(listed[f"{prefix}definitions"].partitions) == 1
        resources = [ConfigResource(ResourceType.TOPIC, s.name) for s in specs]
        configs = {r.name: f.result(timeout=30)
                   for r, f in admin.describe_configs(resources).items()}
        assert configs[f"{prefix}state"]["cleanup.policy"].value == "compact"
        assert configs[f"{prefix}commands"]["cleanup.policy"].value == "delete"
        assert configs[f"{prefix}events"]["retention.ms"].value == "86400000"
    finally:
        names = [s.name for s in specs]
        for future in admin.delete_topics(names, operation_timeout=30).values():
            with contextlib.suppress(Exception):  # a topic the run did not create
                future.result(timeout=30)


def test_topics_refuse_a_missing_bootstrap_naming_it() -> None:
    assert topics.main([], {"LANEWAY_PARTITIONS": "3"}) == 2
    assert topics.main([], {"KAFKA_BOOTSTRAP_SERVERS": "x:1", "LANEWAY_PARTITIONS": "0"}) == 2
