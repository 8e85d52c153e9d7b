"""The path table of the public URL (edge/routes.toml): read, checked, and asked.

`load()` reads it; `Route.service_for(method)` says which service answers a method; `owner()`
finds the route of a request the way nginx does (an exact location first, then the longest
prefix), so an in-process stand-in (tests/integration/api_harness.py) routes as the proxy does.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "edge" / "routes.toml"
HTTP_SERVICES = ("definitions", "worklist", "audit", "triggers", "connectors")
"""The services that answer routes of the public URL (the connectors service: the job API of
outside workers, docs/workers.md)."""
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RouteTableError(ValueError):
    """The path table is malformed; the message names the route and what is wrong."""


@dataclass(frozen=True, slots=True)
class Route:
    """One path of the public URL and the service that answers it."""

    path: str
    service: str
    exact: bool = False
    """Only `path` itself; otherwise `path` and everything under `path/`."""
    methods: Mapping[str, str] = field(default_factory=dict)
    """Methods answered by another service than `service`."""

    def service_for(self, method: str) -> str:
        """The service that answers `method` on this path."""
        return self.methods.get(method.upper(), self.service)

    def matches(self, path: str) -> bool:
        """Whether a request path falls under this route."""
        if self.exact:
            return path == self.path
        under = self.path if self.path.endswith("/") else self.path + "/"
        return path == self.path or path.startswith(under)

    @property
    def services(self) -> set[str]:
        """Every service this route sends requests to."""
        return {self.service, *self.methods.values()}


def load(path: Path = TABLE) -> list[Route]:
    """The routes of the table at `path`, checked; RouteTableError names what is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RouteTableError(f"Expected a readable TOML path table at {path}, but: {exc}") \
            from exc
    return parse(raw.get("route", []))


def parse(entries: Sequence[Mapping[str, Any]]) -> list[Route]:
    """Routes from the table's `[[route]]` entries, checked."""
    routes: list[Route] = []
    seen: set[tuple[str, bool]] = set()
    for n, entry in enumerate(entries, 1):
        where = f"route {n} ({entry.get('path', '?')!r})"
        unknown = set(entry) - {"path", "service", "match", "methods"}
        if unknown:
            raise RouteTableError(f"Expected path, service, match, methods in {where}, but "
                                  f"got {', '.join(sorted(unknown))}")
        path, service = entry.get("path"), entry.get("service")
        match = entry.get("match", "prefix")
        methods = entry.get("methods", {})
        if not isinstance(path, str) or not path.startswith("/") or " " in path:
            raise RouteTableError(f"Expected {where} to have a path starting with '/'")
        if service not in HTTP_SERVICES:
            raise RouteTableError(f"Expected the service of {where} to be one of "
                                  f"{', '.join(HTTP_SERVICES)}, but got {service!r}")
        if match not in ("prefix", "exact"):
            raise RouteTableError(f"Expected match 'prefix' or 'exact' in {where}, but got "
                                  f"{match!r}")
        if not isinstance(methods, dict) or any(
                m not in _METHODS or s not in HTTP_SERVICES for m, s in methods.items()):
            raise RouteTableError(f"Expected methods of {where} to map HTTP methods (upper "
                                  f"case) to services, but got {methods!r}")
        key = (path, match == "exact")
        if key in seen:
            raise RouteTableError(f"Expected each path once, but {where} repeats one")
        seen.add(key)
        routes.append(Route(path, str(service), match == "exact", dict(methods)))
    if not routes:
        raise RouteTableError("Expected at least one [[route]] in the path table, but found none")
    return routes


def owner(routes: Sequence[Route], path: str) -> Route | None:
    """The route a request path falls under: an exact route first, else the longest prefix
    (nginx's choice of `location`); None when no route has it."""
    exact = [r for r in routes if r.exact and r.matches(path)]
    if exact:
        return exact[0]
    prefixes = [r for r in routes if not r.exact and r.matches(path)]
    return max(prefixes, key=lambda r: len(r.path), default=None)
