"""The element processors, one per kind of element, and the one table that says which serves
which kind (as Zeebe's `BpmnElementProcessors`).

Each processor's module holds everything its kind does over its life (see
`processors.base.ElementProcessor` for the moments). The engine reaches the table as
`ctx.processors`; the deploy check (`laneway.engine.check`) asks it too. A kind missing here is
one the engine does not run: the deploy check refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping

from laneway.engine.processors.adhoc_subprocess import AdHocSubProcessProcessor
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.processors.boundary_event import BoundaryEventProcessor
from laneway.engine.processors.call_activity import CallActivityProcessor
from laneway.engine.processors.complex_gateway import ComplexGatewayProcessor
from laneway.engine.processors.end_event import EndEventProcessor
from laneway.engine.processors.event_based_gateway import EventBasedGatewayProcessor
from laneway.engine.processors.exclusive_gateway import ExclusiveGatewayProcessor
from laneway.engine.processors.inclusive_gateway import InclusiveGatewayProcessor
from laneway.engine.processors.intermediate_catch_event import IntermediateCatchEventProcessor
from laneway.engine.processors.intermediate_throw_event import IntermediateThrowEventProcessor
from laneway.engine.processors.multi_instance import MultiInstanceBodyProcessor
from laneway.engine.processors.parallel_gateway import ParallelGatewayProcessor
from laneway.engine.processors.process import ProcessProcessor
from laneway.engine.processors.receive_task import ReceiveTaskProcessor
from laneway.engine.processors.script_task import ScriptTaskProcessor
from laneway.engine.processors.service_task import ServiceTaskProcessor
from laneway.engine.processors.start_event import StartEventProcessor
from laneway.engine.processors.subprocess import SubProcessProcessor
from laneway.engine.processors.task import TaskProcessor
from laneway.engine.processors.transaction import TransactionProcessor
from laneway.engine.processors.user_task import UserTaskProcessor
from laneway.engine.state import MI_BODY_KIND, PROCESS_KIND
from laneway.model import NodeKind

_TASK = TaskProcessor()
_SERVICE_TASK = ServiceTaskProcessor()

#: element kind (the `element_type` of its records) -> its processor; a plain dict behind a
#: read-only type, as it is looked up at every step of every token
ELEMENT_PROCESSORS: Mapping[str, ElementProcessor] = {
    PROCESS_KIND: ProcessProcessor(),
    MI_BODY_KIND: MultiInstanceBodyProcessor(),
    # events
    NodeKind.START_EVENT.value: StartEventProcessor(),
    NodeKind.END_EVENT.value: EndEventProcessor(),
    NodeKind.INTERMEDIATE_CATCH_EVENT.value: IntermediateCatchEventProcessor(),
    NodeKind.INTERMEDIATE_THROW_EVENT.value: IntermediateThrowEventProcessor(),
    NodeKind.BOUNDARY_EVENT.value: BoundaryEventProcessor(),
    # tasks
    NodeKind.TASK.value: _TASK,
    NodeKind.MANUAL_TASK.value: _TASK,
    NodeKind.USER_TASK.value: UserTaskProcessor(),
    NodeKind.SERVICE_TASK.value: _SERVICE_TASK,
    NodeKind.SEND_TASK.value: _SERVICE_TASK,
    NodeKind.BUSINESS_RULE_TASK.value: _SERVICE_TASK,
    NodeKind.SCRIPT_TASK.value: ScriptTaskProcessor(),
    NodeKind.RECEIVE_TASK.value: ReceiveTaskProcessor(),
    # gateways
    NodeKind.EXCLUSIVE_GATEWAY.value: ExclusiveGatewayProcessor(),
    NodeKind.PARALLEL_GATEWAY.value: ParallelGatewayProcessor(),
    NodeKind.INCLUSIVE_GATEWAY.value: InclusiveGatewayProcessor(),
    NodeKind.EVENT_BASED_GATEWAY.value: EventBasedGatewayProcessor(),
    NodeKind.COMPLEX_GATEWAY.value: ComplexGatewayProcessor(),
    # scopes
    NodeKind.SUB_PROCESS.value: SubProcessProcessor(),
    NodeKind.AD_HOC_SUB_PROCESS.value: AdHocSubProcessProcessor(),
    NodeKind.TRANSACTION.value: TransactionProcessor(),
    NodeKind.CALL_ACTIVITY.value: CallActivityProcessor(),
}

__all__ = ["ELEMENT_PROCESSORS", "ElementProcessor"]
