"""Settings of the worklist service."""

from __future__ import annotations

from collections.abc import Mapping

from laneway.settings import Settings


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read the worklist service's settings from `environ` (default: the process environment)."""
    return Settings.from_env("worklist", environ)
