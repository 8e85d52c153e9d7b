"""The project's skeleton agrees with itself: services, compose file, Helm chart, CI entry."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from laneway.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]

# The services of docs (ARCHITECTURE "The services").
SERVICES = ("engine", "definitions", "worklist", "connectors", "triggers", "audit")
CONNECTOR_TYPES = ("email", "slack", "http", "llm")


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
    assert inspect.signature(module.main).parameters == {}


@pytest.mark.parametrize("name", SERVICES)
def test_service_main_exits_zero_until_the_service_lands(
    name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("LANEWAY_ENV", raising=False)
    module = importlib.import_module(f"services.{name}.__main__")

    assert module.main() == 0
    assert "not implemented yet" in caplog.text


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
    # each service has its own port on one machine; the API (definitions) keeps 8080
    assert settings.http_port == 8081
    assert Settings.from_env("definitions", {}).http_port == 8080
    ports = [Settings.from_env(name, {}).http_port for name in SERVICES]
    assert len(set(ports)) == len(ports)


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


def test_helm_values_name_every_service_and_connector_type() -> None:
    text = (ROOT / "helm" / "values.yaml").read_text()

    assert set(keys_under(text, "services")) | {"connectors"} == set(SERVICES)
    assert set(keys_under(text, "connectors")) == set(CONNECTOR_TYPES)
    assert (ROOT / "helm" / "Chart.yaml").is_file()
    assert ".Values.connectors" in (ROOT / "helm" / "templates" / "deployment.yaml").read_text()


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
    assert set(values["connectors"]) == set(CONNECTOR_TYPES)
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

    assert {"setup", "lint", "test", "up", "down", "status", "bench-core", "clean"} <= targets
