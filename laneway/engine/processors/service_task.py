"""Service, send and business-rule tasks: a job of the element's type for a connector.

Activated, the task creates a job (`JOB_CREATED` on `jobs.<type>`): its type is the element's
(`laneway:type`, Zeebe's task definition, Camunda 7's type or topic), else `service`, `send` or
`business-rule`, with the variables it sees, its headers, lane and persona. Then it waits:
`COMPLETE_JOB` completes it with the job's variables; `FAIL_JOB` retries, and at zero retries
raises an incident `JOB_NO_RETRIES` that, resolved, creates the job again; `THROW_ERROR` throws a
BPMN error to a boundary event or event subprocess (`handlers/jobs.py`). Leaving the task
cancels its job. A send task without a job type that names a message (`messageRef`), or whose
message flow crosses to another agency's pool (`laneway.agency_flows`), creates no job: it
sends the message as a message throw event does and completes.
"""

from __future__ import annotations

from typing import Any

from laneway.agency_flows import crossing, explicit_job_type
from laneway.engine.behaviours import flow, throw, work
from laneway.engine.context import Processing
from laneway.engine.processors.base import ElementProcessor
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode

_DEFAULT_TYPES = {"serviceTask": "service", "sendTask": "send", "businessRuleTask": "business-rule"}


class ServiceTaskProcessor(ElementProcessor):
    """Creates the job and waits for COMPLETE_JOB, FAIL_JOB or THROW_ERROR."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        if (node.kind.value == "sendTask" and not explicit_job_type(node)
                and (node.message_ref is not None
                     or crossing(ctx.proc.definitions, node.id) is not None)):
            # a send task with a message sends it as a message throw event does (BPMN
            # 10.3.3), to the partner's topic when its message flow crosses to another
            # agency (in this command's transaction), and the task is done
            if throw.publish_message(ctx, elem, node):
                flow.complete(ctx, elem)
            return
        work.create_job(ctx, elem, node, node.job_type or _DEFAULT_TYPES[node.kind.value])
