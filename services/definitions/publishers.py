"""Who may publish a message without the role `operator`: the personas a diagram names.

A message declared in an AUTHORIZED (or RETIRED: its instances still wait) definition version
may name who publishes it:

    <bpmn:message id="paid" name="payment-received" laneway:publishers="Cashier, Payment Bot"/>

`POST /api/messages` lets a principal holding one of those personas (names compare
normalised, `persona_key`) publish a message of that name; anyone else needs `operator`. A
message meets every waiting subscription of its name and correlation key and can overwrite
the waiting instance's variables, so "any valid token" was too wide.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping

from laneway.bpmn import parse
from laneway.problems import DiagramError, UnreadableInput
from laneway.records import Principal, persona_key
from services.definitions.store import DefinitionStore

__all__ = ["ATTRIBUTE", "MessagePublishers", "publishers_of"]

ATTRIBUTE = "laneway:publishers"
"""The message attribute that lists the personas who may publish it (comma-separated)."""

# Parsed files kept by digest: a version's file never changes, so only a new version is read.
_CACHE_SIZE = 256


def publishers_of(xml: bytes) -> dict[str, frozenset[str]]:
    """{message name: persona keys} of the messages of one file that name publishers."""
    try:
        definitions = parse(xml)
    except (DiagramError, UnreadableInput):
        return {}  # it was checked at deploy; a file that no longer parses grants nothing
    out: dict[str, frozenset[str]] = {}
    for message in definitions.messages.values():
        raw = message.attrs.get(ATTRIBUTE, "")
        keys = frozenset(persona_key(p) for p in raw.split(",") if persona_key(p))
        if message.name and keys:
            out[message.name] = out.get(message.name, frozenset()) | keys
    return out


class MessagePublishers:
    """Answers whether a principal may publish a message by name, from the stored versions."""

    def __init__(self, store: DefinitionStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._parsed: OrderedDict[str, Mapping[str, frozenset[str]]] = OrderedDict()

    def may_publish(self, principal: Principal, name: str) -> bool:
        """Whether `principal` holds `operator` (or `admin`) or a persona a running version
        names in `laneway:publishers` of a message called `name`."""
        if principal.has_role("operator"):
            return True
        held = {persona_key(p) for p in principal.personas}
        if not held:
            return False
        return any(held & self._publishers(digest, process_id, version).get(name, frozenset())
                   for digest, process_id, version in self._store.running_versions())

    def _publishers(self, digest: str, process_id: str, version: int
                    ) -> Mapping[str, frozenset[str]]:
        with self._lock:
            found = self._parsed.get(digest)
            if found is not None:
                self._parsed.move_to_end(digest)
                return found
        xml = self._store.xml(process_id, version)
        parsed = publishers_of(xml) if xml is not None else {}
        with self._lock:
            self._parsed[digest] = parsed
            while len(self._parsed) > _CACHE_SIZE:
                self._parsed.popitem(last=False)
        return parsed
