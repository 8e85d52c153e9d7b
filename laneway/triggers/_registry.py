"""Finding triggers: the built-ins, then every entry point of the group `laneway.triggers`.

A team ships its own trigger as a distribution with

    [project.entry-points."laneway.triggers"]
    ftp-folder = "acme_ftp:FtpFolderTrigger"

An entry point names a `Trigger` subclass (made with no arguments), an instance or a factory;
its name must be the trigger's `type`. An entry point wins over a built-in of the same type;
one that fails to load is reported, not fatal to the other types.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import EntryPoint, entry_points

from laneway.triggers._api import Trigger

GROUP = "laneway.triggers"

# Found without packaging metadata, so a source checkout still has them; pyproject registers
# the same classes.
BUILTINS = {
    "timer": "laneway.triggers.builtin.timer:TimerTrigger",
    "feed": "laneway.triggers.builtin.feed:FeedTrigger",
    "folder": "laneway.triggers.builtin.folder:FolderTrigger",
    "webhook": "laneway.triggers.builtin.webhook:WebhookTrigger",
    "topic": "laneway.triggers.builtin.topic:TopicTrigger",
    "imap-mailbox": "laneway.triggers.builtin.imap:ImapMailboxTrigger",
    "graph-mailbox": "laneway.triggers.builtin.graph:GraphMailboxTrigger",
    "sharepoint-folder": "laneway.triggers.builtin.graph:SharePointFolderTrigger",
    "ai-listener": "laneway.triggers.builtin.ai_listener:AiListenerTrigger",
}

_log = logging.getLogger("laneway.triggers")


@dataclass(frozen=True, slots=True)
class DiscoveredTriggers:
    """What discovery found: trigger by type, where each came from, and the types that failed
    to load with the reason."""

    triggers: dict[str, Trigger]
    sources: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def _make(obj: object, name: str) -> Trigger:
    made = obj() if (isinstance(obj, type) and issubclass(obj, Trigger)) or (
        callable(obj) and not isinstance(obj, Trigger)) else obj
    if not isinstance(made, Trigger):
        raise TypeError(f"Expected {name} to be a Trigger class, instance or factory, but it "
                        f"gave a {type(made).__name__}")
    return made


def discover_triggers(eps: Iterable[EntryPoint] | None = None) -> DiscoveredTriggers:
    """Every trigger: the built-ins, then the entry points (default: those installed)."""
    found: dict[str, Trigger] = {}
    sources: dict[str, str] = {}
    errors: dict[str, str] = {}
    for type_, target in BUILTINS.items():
        module, _, attr = target.partition(":")
        try:
            found[type_] = _make(getattr(importlib.import_module(module), attr), target)
            sources[type_] = "builtin"
        except Exception as exc:  # a broken built-in must not hide the others
            errors[type_] = f"{target}: {type(exc).__name__}: {exc}"
    for ep in (entry_points(group=GROUP) if eps is None else eps):
        if BUILTINS.get(ep.name) == ep.value:
            continue  # our own pyproject's line for a built-in, already loaded above
        origin = ep.value + (f" ({ep.dist.name})" if ep.dist is not None else "")
        try:
            trigger = _make(ep.load(), ep.value)
            if trigger.type != ep.name:
                raise TypeError(f"Expected the trigger of entry point '{ep.name}' to have type "
                                f"'{ep.name}', but it has '{trigger.type}'")
        except Exception as exc:  # one broken plugin must not stop the others
            errors[ep.name] = f"{origin}: {type(exc).__name__}: {exc}"
            _log.error("trigger '%s' from %s failed to load: %s", ep.name, origin, exc)
            continue
        found[ep.name] = trigger
        sources[ep.name] = origin
        errors.pop(ep.name, None)
    return DiscoveredTriggers(found, sources, errors)


@cache
def installed_triggers() -> DiscoveredTriggers:
    """The triggers of this installation, discovered once per process (the deploy check asks
    on every deploy)."""
    return discover_triggers()
