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


def digest(definitions: Definitions, process_id: str) -> str:
    """What identifies a deployed process version: its file's bytes and its id."""
    return hashlib.sha256(definitions.source + b"\x00" + process_id.encode()).hexdigest()


@dataclass(slots=True)
class DefinitionRepository:
    """Every deployed version of every process, by number."""

    _versions: dict[str, dict[int, ExecutableProcess]] = field(default_factory=dict)
    _digests: dict[str, dict[int, str]] = field(default_factory=dict)

    def deploy(
        self, definitions: Definitions, process_ids: list[str] | None = None
    ) -> list[Deployed]:
        """Check and deploy the processes of a file (all, or the ones named), numbering new
        versions; deploying the same file again is a no-op.

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
            versions = self._versions.setdefault(process.id, {})
            digests = self._digests.setdefault(process.id, {})
            latest = max(versions, default=0)
            wanted = digest(definitions, process.id)
            if latest and digests[latest] == wanted:
                out.append(Deployed(process.id, latest, False))
                continue
            versions[latest + 1] = build(definitions, process, latest + 1)
            digests[latest + 1] = wanted
            out.append(Deployed(process.id, latest + 1, True))
        return out

    def load(self, definitions: Definitions, process_id: str, version: int) -> bool:
        """Load one process at the version the definitions service gave it (engines read
        versions from the `definitions` topic; they never number them). Loading a version that
        is already there is a no-op; returns whether anything was loaded. Raises DiagramError
        when the engine cannot run it."""
        versions = self._versions.setdefault(process_id, {})
        if version in versions:
            return False
        process = definitions.process(process_id)
        problems = check_runnable(definitions, process)
        if problems:
            raise DiagramError(problems)
        versions[version] = build(definitions, process, version)
        self._digests.setdefault(process_id, {})[version] = digest(definitions, process_id)
        return True

    def get(self, process_id: str, version: int | None = None) -> ExecutableProcess:
        """A version (the latest when None); KeyError when there is none."""
        versions = self._versions.get(process_id)
        if not versions:
            raise KeyError(f"Expected a deployed process '{process_id}', but there is none")
        if version is None:
            return versions[max(versions)]
        found = versions.get(version)
        if found is None:
            raise KeyError(f"Expected version {version} of process '{process_id}', "
                           f"but it has {sorted(versions)}")
        return found

    def has(self, process_id: str) -> bool:
        """Whether any version of the process is deployed."""
        return bool(self._versions.get(process_id))

    def latest_versions(self) -> list[ExecutableProcess]:
        """The latest version of every process."""
        return [v[max(v)] for v in self._versions.values() if v]

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
