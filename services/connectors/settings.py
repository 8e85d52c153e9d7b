"""Settings of the connectors service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.settings import Settings, SettingsError

DEFAULT_CONNECTOR_TYPES = ("email", "slack", "http", "llm")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectorsSettings:
    """The shared settings plus which connector types this process serves."""

    common: Settings
    """Connections, topic prefix, logging: the same for every service."""
    connector_types: tuple[str, ...]
    """Connector types to consume `jobs.<type>` for (`LANEWAY_CONNECTOR_TYPES`, comma-separated).
    One Deployment per type in Kubernetes, so each type scales alone."""


def load_settings(environ: Mapping[str, str] | None = None) -> ConnectorsSettings:
    """Read the connectors' settings from `environ` (default: the process environment)."""
    common = Settings.from_env("connectors", environ)
    env = os.environ if environ is None else environ
    raw = env.get("LANEWAY_CONNECTOR_TYPES", ",".join(DEFAULT_CONNECTOR_TYPES))
    types = tuple(t.strip() for t in raw.split(",") if t.strip())
    if not types:
        raise SettingsError(
            f"Expected LANEWAY_CONNECTOR_TYPES to name at least one type, but got {raw!r}"
        )
    return ConnectorsSettings(common=common, connector_types=types)
