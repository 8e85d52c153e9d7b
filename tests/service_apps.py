"""The HTTP services' apps built with nothing behind them, for tests that only list
their routes or call them with requests refused before any route runs."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from laneway.health import HealthChecks
from laneway.web.docs import ASSETS, FILES
from services.audit.app import create_app as audit_app
from services.connectors.jobs_api import create_app as jobs_app
from services.definitions.app import create_app as definitions_app
from services.definitions.settings import load_settings as definitions_settings
from services.triggers.app import create_app as triggers_app
from services.worklist.app import create_app as worklist_app
from tests.auth import auth_env, verifier

__all__ = ["apps", "served"]


def apps() -> dict[str, FastAPI]:
    checks = HealthChecks("test")
    settings = definitions_settings(auth_env())
    # the routes are only listed here, never called: no parts behind them
    parts: Any = None
    return {"definitions": definitions_app(settings, parts, verifier()),
            "worklist": worklist_app(verifier(), checks, CollectorRegistry()),
            "audit": audit_app(verifier(), checks, CollectorRegistry()),
            "triggers": triggers_app(verifier(), checks, CollectorRegistry()),
            "connectors": jobs_app(verifier(), checks, registry=CollectorRegistry())}


def served(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path with sample values for its parameters) of every route of the app."""
    out = []
    for path, operations in app.openapi()["paths"].items():
        sample = re.sub(r"\{[^}]+\}", "x1", path)
        out.extend((method.upper(), sample) for method in operations)
    if app.openapi_url:
        out.append(("GET", app.openapi_url))
    if app.docs_url:
        out.append(("GET", app.docs_url))
        out.extend(("GET", f"{ASSETS}/{name}") for name in FILES)  # the page's files
    return out
