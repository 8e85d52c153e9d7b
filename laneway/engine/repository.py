"""Deployed process versions, as the engine sees them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from laneway.engine.check import check_runnable
from laneway.engine.executable import ExecutableProcess, build
from laneway.model import Definitions, EventKind, FlowNode
from laneway.problems import DiagramError, Problem


@dataclass(frozen=True, slots=True)
class Deployed:
    """A process version that a deploy produced (or found already there)."""

    process_id: str
    version: int
    new: bool


@dataclass(slots=True)
class DefinitionRepository:
    """Every deployed version of every process; a deploy of unchanged XML is a no-op."""

    _versions: dict[str, list[ExecutableProcess]] = field(default_factory=dict)
    _digests: dict[str, list[str]] = field(default_factory=dict)

    def deploy(
        self, definitions: Definitions, process_ids: list[str] | None = None
    ) -> list[Deployed]:
        """Check and deploy the processes of a file (all, or the ones named).

        Raises DiagramError naming every element the engine cannot run; nothing is deployed
        then.
        """
        chosen = [
            p for p in definitions.processes if process_ids is None or p.id in process_ids
        ]
        problems: list[Problem] = []
        for process in chosen:
            problems.extend(check_runnable(definitions, process))
        if problems:
            raise DiagramError(problems)
        out: list[Deployed] = []
        for process in chosen:
            digest = hashlib.sha256(definitions.source + process.id.encode()).hexdigest()
            digests = self._digests.setdefault(process.id, [])
            versions = self._versions.setdefault(process.id, [])
            if digests and digests[-1] == digest:
                out.append(Deployed(process.id, len(versions), False))
                continue
            versions.append(build(definitions, process, len(versions) + 1))
            digests.append(digest)
            out.append(Deployed(process.id, len(versions), True))
        return out

    def get(self, process_id: str, version: int | None = None) -> ExecutableProcess:
        """A version (the latest when None); KeyError when there is none."""
        versions = self._versions.get(process_id)
        if not versions:
            raise KeyError(f"Expected a deployed process '{process_id}', but there is none")
        if version is None:
            return versions[-1]
        if not 1 <= version <= len(versions):
            raise KeyError(f"Expected version {version} of process '{process_id}', "
                           f"but it has {len(versions)}")
        return versions[version - 1]

    def has(self, process_id: str) -> bool:
        """Whether any version of the process is deployed."""
        return bool(self._versions.get(process_id))

    def latest_versions(self) -> list[ExecutableProcess]:
        """The latest version of every process."""
        return [v[-1] for v in self._versions.values() if v]

    def start_events(self, kind: EventKind, name: str) -> list[tuple[ExecutableProcess, FlowNode]]:
        """Process-level start events of this kind (message or signal) with this name,
        in the latest version of each process."""
        out: list[tuple[ExecutableProcess, FlowNode]] = []
        for proc in self.latest_versions():
            for node in proc.start_events:
                ed = node.event_definition
                if ed is None or ed.kind != kind:
                    continue
                named = (proc.message_name(ed.ref) if kind == EventKind.MESSAGE
                         else proc.signal_name(ed.ref))
                if named == name:
                    out.append((proc, node))
        return out
