"""Service, send and business-rule tasks: a job of the element's type for a connector."""

from __future__ import annotations

from typing import Any

from laneway.engine.behaviours import work
from laneway.engine.behaviours.registry import processor
from laneway.engine.context import Processing
from laneway.engine.state import ElementInstance
from laneway.model import FlowNode

_DEFAULT_TYPES = {"serviceTask": "service", "sendTask": "send", "businessRuleTask": "business-rule"}


@processor("serviceTask", "sendTask", "businessRuleTask")
class ServiceTaskProcessor:
    """Creates the job and waits for COMPLETE_JOB, FAIL_JOB or THROW_ERROR."""

    def on_activate(
        self, ctx: Processing, elem: ElementInstance, node: FlowNode, trigger: dict[str, Any] | None
    ) -> None:
        work.create_job(ctx, elem, node, node.job_type or _DEFAULT_TYPES[node.kind.value])
