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

from laneway.bpmn import Limits
from laneway.diagram_check import Checked, check_diagram, in_order
from laneway.engine.repository import digests
from laneway.limits import TooLarge
from laneway.problems import DiagramError, Problem
from laneway.publisher import Publisher
from laneway.records import Principal
from services.definitions.lifecycle import PUBLISHED
from services.definitions.store import DefinitionStore, NewVersion, StoredVersion

NO_PROCESS = "Expected at least one process, but the file has none"


def diagram_problems(data: bytes, file_name: str, limits: Limits | None = None) -> Checked:
    """What refuses a file's deploy and what is only worth a warning: the checks of `laneway
    validate` (`laneway.diagram_check`), and a file without processes, which runs nothing."""
    checked = check_diagram(data, file_name, limits)
    if checked.definitions is not None and not checked.definitions.processes:
        return Checked(checked.definitions,
                       [*checked.problems, Problem(file_name, 0, None, NO_PROCESS)],
                       checked.warnings)
    return checked


def check(data: bytes, file_name: str, limits: Limits | None = None) -> list[NewVersion]:
    """The processes of a file, if the engine can run all of them; raises DiagramError with
    every problem found (malformed XML included, with its line; a file over `limits` names
    the limit)."""
    checked = diagram_problems(data, file_name, limits)
    if checked.problems or checked.definitions is None:
        raise DiagramError(in_order(checked.problems))
    file_digests = digests(checked.definitions)
    return [NewVersion(p.id, p.name or None, file_digests[p.id])
            for p in checked.definitions.processes]


DEFINITION_ROOM = 16 * 1024
"""What a `definitions` record holds besides the file: its key, ids, digest and metadata."""


@dataclass(frozen=True, slots=True)
class Deployer:
    """Stores checked files as DRAFT versions; publishes the file's versions already
    AUTHORIZED or RETIRED again."""

    store: DefinitionStore
    publisher: Publisher
    limits: Limits = field(default_factory=Limits)

    def too_large(self, data: bytes) -> str | None:
        """Why a file is too large to deploy though under the diagram limits, None when it
        is not: the file travels to the engine in one record, so one that can never be
        published is refused now, not stored to fail at its authorization."""
        limit = self.publisher.max_record_bytes - DEFINITION_ROOM
        if len(data) > limit:
            return (f"Expected a BPMN file of at most {limit} bytes (what one record on Kafka "
                    f"carries), but it is {len(data)}")
        return None

    def problems(self, data: bytes, file_name: str) -> Checked:
        """Everything that would refuse the file's deploy, and its warnings, storing nothing
        (the console's "Check")."""
        too_large = self.too_large(data)
        if too_large is not None:
            return Checked(None, [Problem(file_name, 0, None, too_large)], [])
        return diagram_problems(data, file_name, self.limits)

    def deploy(self, data: bytes, file_name: str, principal: Principal) -> list[StoredVersion]:
        """Check and store (one transaction); raises DiagramError when refused and
        PublishError when a published version of the file was not acknowledged by Kafka."""
        too_large = self.too_large(data)
        if too_large is not None:
            raise TooLarge(too_large)
        versions = check(data, file_name, self.limits)
        stored = self.store.store(versions, data, file_name, principal)
        # a version found already stored keeps its first file name and principal, so publish
        # what the rows hold: a republish from the rows gives byte-identical records
        published = [(s.process_id, s.version) for s in stored if s.state in PUBLISHED]
        if published:
            self.publisher.publish_definitions(self.store.records(published))
        return stored
