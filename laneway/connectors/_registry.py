"""Finding connectors: the built-ins, then every entry point of the group `laneway.connectors`.

A connector team ships its own distribution with

    [project.entry-points."laneway.connectors"]
    slack = "acme_slack:SlackConnector"

and never touches Laneway. An entry point may name a `Connector` subclass (made with no
arguments), a `Connector` instance, or a function returning one. Its name must be the
connector's `type`. An entry point wins over a built-in of the same type, so a built-in can be
replaced without forking; one that fails to load is reported, not fatal to the other types.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points

from laneway.connectors._api import Connector

GROUP = "laneway.connectors"

# Found without any packaging metadata, so a source checkout (or a broken install) still has
# them; pyproject registers the same classes, which then load to the same thing.
BUILTINS = {
    "http": "laneway.connectors.builtin.http:HttpConnector",
    "email": "laneway.connectors.builtin.email:EmailConnector",
    "slack": "laneway.connectors.builtin.slack:SlackConnector",
    "discord": "laneway.connectors.builtin.discord:DiscordConnector",
    "llm": "laneway.connectors.builtin.llm:LlmConnector",
    "response": "laneway.connectors.builtin.response:ResponseConnector",
}

_log = logging.getLogger("laneway.connectors")


class DiscoveryError(RuntimeError):
    """A connector could not be loaded. Not retryable: the installation has to change."""


@dataclass(frozen=True, slots=True)
class Discovered:
    """What discovery found."""

    connectors: dict[str, Connector]
    """Connector by type."""
    sources: dict[str, str]
    """Where each type came from: `builtin` or the entry point's `module:attr` and
    distribution."""
    errors: dict[str, str] = field(default_factory=dict)
    """Types whose connector failed to load, with the reason."""


def _make(obj: object, name: str) -> Connector:
    if isinstance(obj, type) and issubclass(obj, Connector):
        connector = obj()
    elif isinstance(obj, Connector):
        connector = obj
    elif callable(obj):
        connector = obj()
        if not isinstance(connector, Connector):
            raise DiscoveryError(f"Expected {name} to return a Connector, but it returned "
                                 f"{type(connector).__name__}")
    else:
        raise DiscoveryError(f"Expected {name} to be a Connector class, instance or factory, "
                             f"but it is a {type(obj).__name__}")
    return connector


def _load_builtin(type_: str, target: str) -> Connector:
    module, _, attr = target.partition(":")
    return _make(getattr(importlib.import_module(module), attr), target)


def discover(eps: Iterable[EntryPoint] | None = None) -> Discovered:
    """Every connector: the built-ins, then the entry points (default: those installed in the
    group `laneway.connectors`). Tests pass their own `EntryPoint` objects."""
    found: dict[str, Connector] = {}
    sources: dict[str, str] = {}
    errors: dict[str, str] = {}
    for type_, target in BUILTINS.items():
        try:
            found[type_] = _load_builtin(type_, target)
            sources[type_] = "builtin"
        except Exception as exc:  # a broken built-in must not hide the plugins
            errors[type_] = f"{target}: {type(exc).__name__}: {exc}"
    for ep in (entry_points(group=GROUP) if eps is None else eps):
        origin = ep.value + (f" ({ep.dist.name})" if ep.dist is not None else "")
        try:
            connector = _make(ep.load(), ep.value)
            if connector.type != ep.name:
                raise DiscoveryError(f"Expected the connector of entry point '{ep.name}' to "
                                     f"have type '{ep.name}', but it has '{connector.type}'")
        except Exception as exc:  # one broken plugin must not stop the others
            errors[ep.name] = f"{origin}: {type(exc).__name__}: {exc}"
            _log.error("connector '%s' from %s failed to load: %s", ep.name, origin, exc)
            continue
        if ep.name in found and type(found[ep.name]) is not type(connector):
            _log.info("connector '%s' from %s replaces the %s one", ep.name, origin,
                      sources[ep.name])
        found[ep.name] = connector
        sources[ep.name] = origin
        errors.pop(ep.name, None)
    return Discovered(found, sources, errors)


def load_connectors(types: Iterable[str], eps: Iterable[EntryPoint] | None = None
                    ) -> dict[str, Connector]:
    """The connectors of `types`; raises `DiscoveryError` naming every type that has none."""
    discovered = discover(eps)
    wanted = list(types)
    missing = [t for t in wanted if t not in discovered.connectors]
    if missing:
        details = "; ".join(f"{t}: {discovered.errors.get(t, 'no connector installed')}"
                            for t in missing)
        raise DiscoveryError(f"Expected a connector for every type, but not for {details} "
                             f"(installed: {', '.join(sorted(discovered.connectors)) or 'none'})")
    return {t: discovered.connectors[t] for t in wanted}
