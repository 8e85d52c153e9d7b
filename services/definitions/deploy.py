"""Deploying a file: check it as the engine will, store its processes as DRAFT versions.

A new version is not published: only AUTHORIZED and RETIRED versions reach the `definitions`
topic, when the lifecycle takes them there (transitions.py). Publishing follows one order
everywhere: the database commit first (it numbers the versions, it records the state), the
Kafka publish second. If a publish fails after the commit, two things repair it: the republish
every start runs (`publisher.republish_missing`), and the caller's retry: the same upload is
idempotent (same digests give the same versions) and publishes again every version of the file
that is AUTHORIZED or RETIRED (the topic is compacted, so a repeat costs one record per key).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from laneway.bpmn import Limits, parse, validate
from laneway.engine.repository import DefinitionRepository, digests
from laneway.limits import TooLarge
from laneway.problems import DiagramError, Problem
from laneway.publisher import Publisher
from laneway.records import Principal
from services.definitions.lifecycle import PUBLISHED
from services.definitions.store import DefinitionStore, NewVersion, StoredVersion


def check(data: bytes, file_name: str, limits: Limits | None = None) -> list[NewVersion]:
    """The processes of a file, if the engine can run all of them; raises DiagramError with
    every problem found (malformed XML included, with its line; a file over `limits` names
    the limit)."""
    definitions = parse(data, file_name, limits)
    problems = validate(definitions)
    if problems:
        raise DiagramError(problems)
    # a throwaway repository: only its check of what the engine can run is wanted here
    DefinitionRepository().deploy(definitions)
    if not definitions.processes:
        raise DiagramError([Problem(file_name, 0, None,
                                    "Expected at least one process, but the file has none")])
    file_digests = digests(definitions)
    return [NewVersion(p.id, p.name or None, file_digests[p.id])
            for p in definitions.processes]


DEFINITION_ROOM = 16 * 1024
"""What a `definitions` record holds besides the file: its key, ids, digest and metadata."""


@dataclass(frozen=True, slots=True)
class Deployer:
    """Stores checked files as DRAFT versions; publishes the file's versions already
    AUTHORIZED or RETIRED again."""

    store: DefinitionStore
    publisher: Publisher
    limits: Limits = field(default_factory=Limits)

    def deploy(self, data: bytes, file_name: str, principal: Principal) -> list[StoredVersion]:
        """Check and store (one transaction); raises DiagramError when refused and
        PublishError when a published version of the file was not acknowledged by Kafka."""
        # the file travels to the engine in one record: one that can never be published is
        # refused now, not stored to fail at its authorization
        limit = self.publisher.max_record_bytes - DEFINITION_ROOM
        if len(data) > limit:
            raise TooLarge(f"Expected a BPMN file of at most {limit} bytes (what one record "
                           f"on Kafka carries), but it is {len(data)}")
        versions = check(data, file_name, self.limits)
        stored = self.store.store(versions, data, file_name, principal)
        # a version found already stored keeps its first file name and principal, so publish
        # what the rows hold: a republish from the rows gives byte-identical records
        published = [(s.process_id, s.version) for s in stored if s.state in PUBLISHED]
        if published:
            self.publisher.publish_definitions(self.store.records(published))
        return stored
