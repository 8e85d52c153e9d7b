"""One driver per engine: deploy once, then run whole instances, answering user tasks.

Every driver does the same work per instance: create it with the start variables, run it to
its first wait, complete every open user task with the answer (each completion a separate
command, as a person would send it), and go on until the instance has completed.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

from SpiffWorkflow.bpmn.parser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from benchmarks.core.diagrams import Workload
from laneway.bpmn import parse
from laneway.engine import DefinitionRepository, Engine, InstanceStatus
from laneway.engine.runner import Answers, LocalRunner
from laneway.records import Command, command

RunOne = Callable[[], None]
_START = 1_767_225_600_000


def _compact(data: Any) -> int:
    return len(json.dumps(data, separators=(",", ":"), default=str))


class LanewayDriver:
    """The engine core driven directly: commands in, results read from the state."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.repository = DefinitionRepository()
        self.repository.deploy(parse(workload.xml["laneway"].encode()))
        self.engine = Engine(self.repository)
        self._ids = itertools.count(1)
        self._variables = itertools.cycle(workload.start_variables)

    def _send(self, intent: Command, iid: str, value: dict[str, Any]) -> None:
        engine = self.engine
        pending = [command(intent, iid, value, record_id=f"b{next(self._ids)}", timestamp=_START)]
        while pending:
            result = engine.process(pending.pop(0))
            pending.extend(result.commands)

    def start(self) -> str:
        """Start an instance and run it to its first wait."""
        iid = f"i{next(self._ids)}"
        self._send(Command.START_INSTANCE, iid, {"processId": self.workload.process_id,
                                                 "variables": next(self._variables)})
        return iid

    def run_one(self) -> None:
        """One whole instance; it is dropped from the state once it has completed."""
        iid = self.start()
        instances = self.engine.state.instances
        inst = instances[iid]
        answer = self.workload.answer
        while inst.status == InstanceStatus.ACTIVE:
            keys = list(inst.user_tasks)
            if not keys:
                raise RuntimeError(f"{self.workload.name}: instance stuck")
            for key in keys:
                self._send(Command.COMPLETE_USER_TASK, iid, {"taskKey": key, "variables": answer})
        if inst.status != InstanceStatus.COMPLETED:
            raise RuntimeError(f"{self.workload.name}: instance ended {inst.status}")
        del instances[iid]

    def parked_bytes(self) -> int | None:
        """Compact JSON size of an instance at its first wait (None if it does not wait)."""
        iid = self.start()
        inst = self.engine.state.instances.pop(iid)
        if inst.status != InstanceStatus.ACTIVE:
            return None
        return _compact(inst.to_dict())


class LocalRunnerDriver:
    """The same work through LocalRunner (records not kept), to show the runner's cost."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.repository = DefinitionRepository()
        definitions = parse(workload.xml["laneway"].encode())
        self.repository.deploy(definitions)
        tasks = [n.id for p in definitions.processes for n in p.nodes.values()
                 if n.kind.value == "userTask"]
        self.answers = Answers(tasks={t: [dict(workload.answer)] for t in tasks})
        self.runner = LocalRunner(self.repository, keep_records=False)
        self._variables = itertools.cycle(workload.start_variables)

    def run_one(self) -> None:
        runner = self.runner
        iid = runner.start(self.workload.process_id, next(self._variables))
        outcome = runner.run(iid, self.answers)
        if outcome.status != InstanceStatus.COMPLETED:
            raise RuntimeError(f"{self.workload.name}: instance ended {outcome.status}")
        del runner.engine.state.instances[iid]


class SpiffDriver:
    """SpiffWorkflow 3.2: BpmnParser spec once; per instance BpmnWorkflow, do_engine_steps and
    completing the ready user (manual) tasks."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        parser = BpmnParser()
        parser.add_bpmn_str(workload.xml["spiff"].encode())
        self.spec = parser.get_spec(workload.process_id)
        self._variables = itertools.cycle(workload.start_variables)

    def start(self) -> Any:
        """Create a workflow with the start variables and run it to its first wait."""
        wf = BpmnWorkflow(self.spec)
        variables = next(self._variables)
        if variables:
            wf.get_tasks(state=TaskState.READY)[0].data.update(variables)
        wf.do_engine_steps()
        return wf

    def run_one(self) -> None:
        wf = self.start()
        answer = self.workload.answer
        while not wf.is_completed():
            ready = wf.get_tasks(state=TaskState.READY, manual=True)
            if not ready:
                raise RuntimeError(f"{self.workload.name}: workflow stuck")
            for task in ready:
                task.data.update(answer)
                task.run()
            wf.do_engine_steps()

    def parked_bytes(self) -> tuple[int, int] | None:
        """Serialized size at the first wait: the whole serialization, and without the copy of
        the process spec that SpiffWorkflow stores with every workflow."""
        wf = self.start()
        if wf.is_completed():
            return None
        serializer = BpmnWorkflowSerializer()
        data = serializer.to_dict(wf)
        whole = len(serializer.serialize_json(wf))
        state = {k: v for k, v in data.items() if k not in ("spec", "subprocess_specs")}
        return whole, _compact(state)
