"""docker-compose.yml is a valid Compose file: checked against the Compose specification's
JSON schema at a pinned version (scripts/compose_schema.py), and its services' health checks
ask liveness on their own port."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from scripts.compose_schema import schema_file
from scripts.gotools import ToolMissing

ROOT = Path(__file__).resolve().parents[2]
LANEWAY = ("engine", "definitions", "worklist", "connectors", "audit", "triggers", "bridge")


@cache
def _validator() -> jsonschema.protocols.Validator:
    try:
        schema = json.loads(schema_file().read_text())
    except ToolMissing as exc:  # the check is part of `make test`: say why it cannot run
        pytest.fail(f"the Compose schema is not available: {exc}")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)  # type: ignore[no-any-return]


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _errors(document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in _validator().iter_errors(document)]


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    assert _errors(_compose()) == []


@pytest.mark.parametrize(("where", "change"), [
    ("a misspelt key", lambda c: c["services"]["engine"]["healthcheck"].update(intervall="9s")),
    ("a bad restart policy", lambda c: c["services"]["redis"].update(restart=["always"])),
    ("an unknown condition",
     lambda c: c["services"]["engine"]["depends_on"]["kafka-init"].update(condition="done")),
])
def test_the_schema_check_refuses_what_compose_would_refuse(where: str, change: Any) -> None:
    compose = copy.deepcopy(_compose())
    change(compose)
    assert _errors(compose), where


def test_every_laneway_service_checks_its_liveness_on_its_own_port() -> None:
    services = _compose()["services"]
    for name in LANEWAY:
        service = services[name]
        test = " ".join(service["healthcheck"]["test"])
        assert "/health/live" in test, name
        assert "LANEWAY_HTTP_PORT" in test, name
        assert "LANEWAY_HTTP_PORT" in service["environment"], name
