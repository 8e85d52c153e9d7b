"""Deployed process versions, as the engine sees them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from laneway.engine.check import check_runnable
from laneway.engine.executable import ExecutableProcess, build
from laneway.model import Definitions, EventKind, FlowNode, NodeKind
from laneway.problems import DiagramError, Problem


class RetiredError(LookupError):
    """A start named a retired version."""


@dataclass(frozen=True, slots=True)
class Deployed:
    """A process version that a deploy produced (or found already there)."""

    process_id: str
    version: int
    new: bool


def digest(definitions: Definitions, process_id: str) -> str:
    """What identifies a deployed process version: its file's bytes and its id."""
    return hashlib.sha256(definitions.source + b"\x00" + process_id.encode()).hexdigest()


def digests(definitions: Definitions) -> dict[str, str]:
    """`digest` of every process of the file; the file's bytes are hashed once, not once per
    process (a file of many processes would cost its size times their number)."""
    head = hashlib.sha256(definitions.source + b"\x00")
    out: dict[str, str] = {}
    for process in definitions.processes:
        h = head.copy()
        h.update(process.id.encode())
        out[process.id] = h.hexdigest()
    return out


@dataclass(slots=True)
class DefinitionRepository:
    """Every deployed version of every process, by number."""

    _versions: dict[str, dict[int, ExecutableProcess]] = field(default_factory=dict)
    _digests: dict[str, dict[int, str]] = field(default_factory=dict)
    # (process id, version) retired: its instances run on, nothing new starts it
    _retired: set[tuple[str, int]] = field(default_factory=set)

    def deploy(
        self, definitions: Definitions, process_ids: list[str] | None = None
    ) -> list[Deployed]:
        """Check and deploy the processes of a file (all, or the ones named), numbering new
        versions; deploying the same file again is a no-op.

        Raises DiagramError naming every element the engine cannot run; nothing is deployed
        then.
        """
        wanted_ids = None if process_ids is None else set(process_ids)
        chosen = [
            p for p in definitions.processes if wanted_ids is None or p.id in wanted_ids
        ]
        problems: list[Problem] = []
        for process in chosen:
            problems.extend(check_runnable(definitions, process))
        if problems:
            raise DiagramError(problems)
        out: list[Deployed] = []
        file_digests = digests(definitions)
        for process in chosen:
            versions = self._versions.setdefault(process.id, {})
            known = self._digests.setdefault(process.id, {})
            latest = max(versions, default=0)
            wanted = file_digests[process.id]
            if latest and known[latest] == wanted:
                out.append(Deployed(process.id, latest, False))
                continue
            versions[latest + 1] = build(definitions, process, latest + 1)
            known[latest + 1] = wanted
            out.append(Deployed(process.id, latest + 1, True))
        return out

    def load(
        self,
        definitions: Definitions,
        process_id: str,
        version: int,
        *,
        personas: Mapping[str, str] | None = None,
        retired: bool = False,
    ) -> bool:
        """Load one process at the version the definitions service gave it (engines read
        versions from the `definitions` topic; they never number them), with the lane
        personas set at its review (`{laneId: persona}`). Loading a version that is already
        there changes nothing, except that `retired` retires it (for good: the lifecycle has
        no way back). A retired version is still loaded when first seen, so the instances
        running it go on after a restart. Returns whether anything changed. Raises
        DiagramError when the engine cannot run it."""
        versions = self._versions.setdefault(process_id, {})
        changed = False
        if version not in versions:
            process = definitions.process(process_id)
            problems = check_runnable(definitions, process)
            if problems:
                raise DiagramError(problems)
            versions[version] = build(definitions, process, version, personas)
            self._digests.setdefault(process_id, {})[version] = digest(definitions, process_id)
            changed = True
        if retired and (process_id, version) not in self._retired:
            self._retired.add((process_id, version))
            changed = True
        return changed

    def is_retired(self, process_id: str, version: int) -> bool:
        """Whether the version was retired (it runs its instances, starts none)."""
        return (process_id, version) in self._retired

    def startable(self, process_id: str, version: int | None = None) -> ExecutableProcess:
        """The version a start uses: the one named, else the newest not retired. KeyError when
        there is none; RetiredError when the one named is retired."""
        if version is not None:
            found = self.get(process_id, version)
            if self.is_retired(process_id, version):
                raise RetiredError(f"Expected version {version} of process '{process_id}' to "
                                   "be startable, but it is retired; start a newer version "
                                   "(or none, for the newest authorized one)")
            return found
        versions = self._versions.get(process_id)
        if not versions:
            raise KeyError(f"Expected a deployed process '{process_id}', but there is none")
        live = [v for v in versions if not self.is_retired(process_id, v)]
        if not live:
            raise KeyError(f"Expected a version of process '{process_id}' that is not "
                           f"retired, but every version is ({sorted(versions)}); authorize a "
                           "new version to start it")
        return versions[max(live)]

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
        """The newest version of every process that is not retired (what starts new
        instances)."""
        out: list[ExecutableProcess] = []
        for process_id, versions in self._versions.items():
            live = [v for v in versions if not self.is_retired(process_id, v)]
            if live:
                out.append(versions[max(live)])
        return out

    def start_events(self, kind: EventKind, name: str) -> list[tuple[ExecutableProcess, FlowNode]]:
        """Process-level start events of this kind (message or signal) with this name,
        in the newest version of each process that is not retired."""
        out: list[tuple[ExecutableProcess, FlowNode]] = []
        for proc in self.latest_versions():
            for node in proc.start_events:
                # any of its definitions (a multiple start has several)
                for ed in node.event_definitions:
                    if ed.kind != kind:
                        continue
                    named = (proc.message_name(ed.ref) if kind == EventKind.MESSAGE
                             else proc.signal_name(ed.ref))
                    if named == name:
                        out.append((proc, node))
                        break
            for catch_id in proc.instantiating:
                # a catch after an instantiating gateway, or an instantiating receive task
                catch = proc.node(catch_id)
                refs = [ed.ref for ed in catch.event_definitions if ed.kind == kind]
                if catch.kind == NodeKind.RECEIVE_TASK and kind == EventKind.MESSAGE:
                    refs.append(catch.message_ref)
                names = [proc.message_name(r) if kind == EventKind.MESSAGE
                         else proc.signal_name(r) for r in refs]
                if name in names:
                    out.append((proc, catch))
        return out
