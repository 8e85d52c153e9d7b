"""The project's skeleton agrees with itself: services, compose file, Helm chart, CI entry."""

from __future__ import annotations

import importlib
import inspect
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from laneway.settings import DEFAULT_PORTS, Settings, SettingsError
from scripts.edge import DEFAULT_PORT as EDGE_PORT
from scripts.services.supervisor import SERVICES as SUPERVISED
from scripts.services.supervisor import Supervisor

ROOT = Path(__file__).resolve().parents[2]

# The services of docs (ARCHITECTURE "The services").
SERVICES = ("engine", "definitions", "worklist", "connectors", "audit", "triggers", "bridge")
CONNECTOR_TYPES = ("http", "email", "slack", "discord", "llm", "response")


def keys_under(text: str, section: str) -> list[str]:
    """The keys one level (two spaces) under a top-level `section:` of a YAML file.

    Enough for the files this project writes; a YAML parser checks the whole file where one
    is installed (`test_yaml_files_parse`).
    """
    keys: list[str] = []
    inside = False
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            inside = line.rstrip() == f"{section}:"
            continue
        match = re.fullmatch(r"  ([A-Za-z0-9_.-]+):.*", line)
        if inside and match:
            keys.append(match.group(1))
    return keys


def test_service_folders_are_the_services_of_the_architecture() -> None:
    folders = {p.parent.name for p in (ROOT / "services").glob("*/__init__.py")}

    assert folders == set(SERVICES)


@pytest.mark.parametrize("name", SERVICES)
def test_service_module_imports_and_exposes_main(name: str) -> None:
    module = importlib.import_module(f"services.{name}.__main__")

    assert callable(module.main)
    # `python -m services.<name>` calls main() with no arguments
    required = [
        p
        for p in inspect.signature(module.main).parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    assert required == []


def test_service_main_refuses_production_without_connections(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("LANEWAY_ENV", "production")
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    module = importlib.import_module("services.engine.__main__")

    assert module.main() == 2
    assert "Expected KAFKA_BOOTSTRAP_SERVERS to be set in production" in caplog.text


def test_settings_read_the_environment_with_local_defaults() -> None:
    settings = Settings.from_env("engine", {"KAFKA_BOOTSTRAP_SERVERS": "k:9092"})

    assert settings.kafka_bootstrap_servers == "k:9092"
    assert settings.database_url.startswith("postgresql://")
    assert settings.topic_prefix == "laneway."
    # each service has its own port on one machine; the public URL (the edge) keeps 8080
    assert settings.http_port == 8081
    assert Settings.from_env("definitions", {}).http_port == 8086
    ports = [Settings.from_env(name, {}).http_port for name in SERVICES]
    assert len(set(ports)) == len(ports)
    assert EDGE_PORT not in ports


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LANEWAY_ENV": "prod"}, "Expected LANEWAY_ENV to be 'development' or 'production'"),
        ({"LANEWAY_STARTUP_TIMEOUT_S": "soon"}, "LANEWAY_STARTUP_TIMEOUT_S to be a positive"),
        ({"LANEWAY_STARTUP_TIMEOUT_S": "0"}, "LANEWAY_STARTUP_TIMEOUT_S to be a positive"),
        ({"LANEWAY_HTTP_PORT": "http"}, "Expected LANEWAY_HTTP_PORT to be a port number"),
    ],
)
def test_settings_refuse_malformed_values(environ: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env("engine", environ)


def test_connectors_serve_the_types_they_are_given() -> None:
    from services.connectors.settings import load_settings

    assert load_settings({}).connector_types == CONNECTOR_TYPES
    assert load_settings({"LANEWAY_CONNECTOR_TYPES": " http, llm "}).connector_types == (
        "http",
        "llm",
    )
    with pytest.raises(SettingsError, match="at least one type"):
        load_settings({"LANEWAY_CONNECTOR_TYPES": " , "})


def test_compose_file_runs_every_service_from_one_image() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    services = keys_under(text, "services")

    assert set(SERVICES) <= set(services)
    assert {"kafka", "postgres", "redis", "jaeger"} <= set(services)
    for name in SERVICES:
        assert f'command: ["python", "-m", "services.{name}"]' in text


def _helm_connector_types(values: dict[str, Any]) -> list[str]:
    return [t for group in values["connectors"]["groups"] for t in group["types"]]


def test_helm_values_name_every_service_and_connector_type() -> None:
    text = (ROOT / "helm" / "values.yaml").read_text()
    values = yaml.safe_load(text)

    assert set(keys_under(text, "services")) | {"connectors"} == set(SERVICES)
    # each built-in type in exactly one connectors group (one Deployment per group)
    assert sorted(_helm_connector_types(values)) == sorted(CONNECTOR_TYPES)
    assert (ROOT / "helm" / "Chart.yaml").is_file()
    assert "connectors.groups" in (ROOT / "helm" / "templates" / "_helpers.tpl").read_text()


def test_yaml_files_parse() -> None:
    yaml = pytest.importorskip("yaml", reason="no YAML parser installed (PyYAML)")

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    values = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())
    chart = yaml.safe_load((ROOT / "helm" / "Chart.yaml").read_text())

    assert set(SERVICES) <= set(compose["services"])
    for name in SERVICES:
        assert compose["services"][name]["command"] == ["python", "-m", f"services.{name}"]
        assert compose["services"][name]["depends_on"]["kafka-init"] == {
            "condition": "service_completed_successfully"
        }
    assert set(values["services"]) | {"connectors"} == set(SERVICES)
    assert set(_helm_connector_types(values)) == set(CONNECTOR_TYPES)
    assert chart["apiVersion"] == "v2"


def test_ci_entry_point_runs_the_test_command() -> None:
    script = ROOT / ".ci" / "run"
    lines = [line.strip() for line in script.read_text().splitlines()]

    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert any(re.fullmatch(r"(exec )?make test( </dev/null)?", line) for line in lines)
    assert script.stat().st_mode & 0o111, ".ci/run is not executable"


def test_makefile_has_the_documented_targets() -> None:
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z-]+):", text, flags=re.MULTILINE))

    assert {
        "setup",
        "lint",
        "test",
        "up",
        "down",
        "status",
        "logs",
        "bench-core",
        "clean",
    } <= targets


def _compose() -> dict[str, dict[str, dict[str, object]]]:
    loaded: dict[str, dict[str, dict[str, object]]] = yaml.safe_load(
        (ROOT / "docker-compose.yml").read_text()
    )
    return loaded


def test_local_supervisor_runs_the_services_of_compose_and_helm() -> None:
    helm = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())

    assert set(SUPERVISED) == set(SERVICES) == set(DEFAULT_PORTS)
    assert set(SERVICES) <= set(_compose()["services"])
    assert set(helm["services"]) | {"connectors"} == set(SERVICES)


def test_compose_helm_and_local_supervisor_publish_each_service_on_the_same_port() -> None:
    # given the ports `make up` uses (DEFAULT_PORTS) and the port each container listens on
    compose = _compose()["services"]
    helm = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())
    local = Supervisor.from_env({"PATH": os.environ.get("PATH", "")})

    for name in SERVICES:
        env = compose[name]["environment"]
        assert isinstance(env, dict)
        container_port = int(env["LANEWAY_HTTP_PORT"])
        # then compose publishes the service on the host at its local port, the chart's pods
        # listen on that port too, and the supervisor uses the same port
        assert compose[name]["ports"] == [f"{DEFAULT_PORTS[name]}:{container_port}"], name
        chart_port = (helm["connectors"] if name == "connectors" else helm["services"][name])
        assert chart_port["port"] == DEFAULT_PORTS[name], name
        assert local.ports[name] == DEFAULT_PORTS[name]
        assert local.service_env(name)["LANEWAY_HTTP_PORT"] == str(DEFAULT_PORTS[name])


def test_compose_helm_and_local_supervisor_give_services_the_same_settings() -> None:
    # the settings every service reads to find its dependencies and its port
    needed = {
        "KAFKA_BOOTSTRAP_SERVERS",
        "DATABASE_URL",
        "REDIS_URL",
        "LANEWAY_TOPIC_PREFIX",
        "LANEWAY_HTTP_PORT",
    }
    compose = _compose()["services"]
    # the chart's env names, from its templates (tests/unit/test_helm_chart.py checks the
    # rendered Deployments service by service)
    template = "\n".join(p.read_text() for p in (ROOT / "helm" / "templates").iterdir())
    helm_names = set(re.findall(r"- name: ([A-Z][A-Z0-9_]+)", template))
    local_names = set(Supervisor.from_env({}).service_env("engine"))

    for name in SERVICES:
        env = compose[name]["environment"]
        assert isinstance(env, dict)
        assert needed <= set(env), name
    assert needed <= helm_names
    assert needed <= local_names

    # every Laneway setting compose or Helm sets is one the code reads (no typo'd names)
    code = "\n".join(
        p.read_text() for folder in ("laneway", "services") for p in (ROOT / folder).rglob("*.py")
    )
    given = set(helm_names)
    for name in SERVICES:
        env = compose[name]["environment"]
        assert isinstance(env, dict)
        given |= set(env)
    # OTEL_* are OpenTelemetry's own names, read by its SDK
    for setting in sorted(n for n in given if not n.startswith("OTEL_")):
        assert f'"{setting}"' in code, f"{setting} is set by compose or Helm but read by no code"


def test_compose_and_helm_serve_the_same_connector_types() -> None:
    from services.connectors.settings import DEFAULT_CONNECTOR_TYPES

    compose = _compose()["services"]["connectors"]["environment"]
    helm = yaml.safe_load((ROOT / "helm" / "values.yaml").read_text())

    assert isinstance(compose, dict)
    # compose leaves the types to the service's default, so a new type is not a second edit
    assert "LANEWAY_CONNECTOR_TYPES" not in compose
    assert sorted(_helm_connector_types(helm)) == sorted(DEFAULT_CONNECTOR_TYPES)


def test_make_up_creates_a_jobs_topic_for_every_default_connector_type() -> None:
    from scripts.stack.config import Settings as StackSettings
    from services.connectors.__main__ import select_connectors
    from services.connectors.settings import DEFAULT_CONNECTOR_TYPES

    assert set(DEFAULT_CONNECTOR_TYPES) <= set(StackSettings.from_env({}).job_types)
    # every default type has an installed connector, so the default worker serves them all
    assert set(select_connectors(DEFAULT_CONNECTOR_TYPES)) == set(DEFAULT_CONNECTOR_TYPES)
