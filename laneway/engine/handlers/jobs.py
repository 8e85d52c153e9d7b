"""Answers to work the engine handed out: jobs and decisions; and incident repair."""

from __future__ import annotations

from laneway.engine.behaviours import flow, throw, work
from laneway.engine.context import Processing
from laneway.engine.handlers._common import command_variables, live_instance
from laneway.engine.limits import BUDGET_STAGE
from laneway.engine.processors import adhoc_subprocess, multi_instance
from laneway.engine.processors import decision as decisions
from laneway.engine.state import ElementInstance, Job
from laneway.model import EventKind, NodeKind
from laneway.records import Event, IncidentType, RejectionType


def _job(ctx: Processing, decision: bool | None = False
         ) -> tuple[Job, ElementInstance] | None:
    """The command's job and its element, or None after rejecting the command. `decision`:
    the job must be a decision job (True), must not be one (False), or may be either (None:
    FAIL_JOB, since a decision handler fails as a connector does)."""
    if not live_instance(ctx):
        return None
    key = ctx.cmd.value.get("jobKey")
    job = ctx.inst.jobs.get(key) if isinstance(key, int) else None
    if job is None:
        ctx.reject(f"Expected job {key} of instance '{ctx.inst.instance_id}' to be active, but "
                   "it is not (completed, cancelled or never created)", RejectionType.NOT_FOUND)
        return None
    if job.state != "ACTIVATABLE":
        ctx.reject(f"Expected job {key} to be active, but it failed with no retries left; "
                   "resolve its incident first", RejectionType.INVALID_STATE)
        return None
    elem = ctx.inst.elements[job.element_key]
    if decision is not None and decisions.is_decision_job(elem, job.type) != decision:
        wanted = "SUBMIT_DECISION" if not decision else "COMPLETE_JOB"
        what = "decision job" if not decision else "job"
        ctx.reject(f"Expected {wanted} for {what} {key} of type '{job.type}'",
                   RejectionType.INVALID_ARGUMENT)
        return None
    return job, elem


def complete_job(ctx: Processing) -> None:
    """A connector finished: the element completes with the job's result."""
    found = _job(ctx)
    variables = command_variables(ctx) if found else None
    if found is None or variables is None:
        return
    job, elem = found
    ctx.write_element(Event.JOB_COMPLETED, elem, {"key": job.key, "type": job.type,
                                                  "variables": variables})
    flow.complete(ctx, elem, variables)


def fail_job(ctx: Processing) -> None:
    """A connector (or a decision handler) failed: retry with fewer retries, or raise an
    incident at zero."""
    found = _job(ctx, decision=None)
    if found is None:
        return
    job, elem = found
    retries = ctx.cmd.value.get("retries", job.retries - 1)
    if not isinstance(retries, int):
        ctx.reject("Expected retries to be a whole number", RejectionType.INVALID_ARGUMENT)
        return
    message = str(ctx.cmd.value.get("errorMessage", ""))
    ctx.write_element(Event.JOB_FAILED, elem, {"key": job.key, "type": job.type,
                                               "retries": retries, "errorMessage": message})
    if retries <= 0:
        work.raise_incident(ctx, elem, IncidentType.JOB_NO_RETRIES,
                            message or f"job of type '{job.type}' failed with no retries left",
                            job_key=job.key, stage="job")


def throw_error(ctx: Processing) -> None:
    """A connector raised a BPMN error: caught by a boundary event or event subprocess if one
    matches, else an incident."""
    found = _job(ctx)
    if found is None:
        return
    job, elem = found
    code = str(ctx.cmd.value.get("errorCode", ""))
    message = str(ctx.cmd.value.get("errorMessage", ""))
    variables = command_variables(ctx)
    if variables is None:
        return
    ctx.write_element(Event.JOB_ERROR_THROWN, elem, {"key": job.key, "type": job.type,
                                                     "errorCode": code, "errorMessage": message})
    if not throw.throw(ctx, elem, EventKind.ERROR, code, message, variables, stage="job"):
        work.raise_incident(ctx, elem, IncidentType.UNHANDLED_ERROR_EVENT,
                            f"Expected to throw an error event with the code '{code}', but it "
                            "was not caught", job_key=job.key, stage="job")


def submit_decision(ctx: Processing) -> None:
    """A decision handler named the gateway's flows to take, and optionally set variables
    (what it classified, what it cost) before the token moves on."""
    found = _job(ctx, decision=True)
    variables = command_variables(ctx) if found else None
    if found is None or variables is None:
        return
    job, elem = found
    node = ctx.proc.node(elem.element_id)
    if node.kind == NodeKind.AD_HOC_SUB_PROCESS:
        adhoc_subprocess.submit(ctx, job, elem, node, variables)
        return
    flows = ctx.cmd.value.get("flows")
    if not isinstance(flows, list) or not flows:
        ctx.reject("Expected a non-empty list of flow ids to take", RejectionType.INVALID_ARGUMENT)
        return
    unknown = [f for f in flows if f not in node.outgoing]
    if unknown:
        ctx.reject(f"Expected outgoing flows of '{node.id}', but got {unknown}",
                   RejectionType.INVALID_ARGUMENT)
        return
    wanted = ctx.processors[node.kind].decided_flows
    if wanted is not None and len(flows) != wanted:
        ctx.reject(f"Expected exactly one flow for exclusive gateway '{node.id}', but got "
                   f"{len(flows)}", RejectionType.INVALID_ARGUMENT)
        return
    chosen = list(dict.fromkeys(str(f) for f in flows))
    ctx.write_element(Event.JOB_COMPLETED, elem, {"key": job.key, "type": job.type,
                                                  "variables": variables})
    ctx.write_element(Event.GATEWAY_DECIDED, elem, {"flows": chosen})
    flow.complete(ctx, elem, variables or None, flows=chosen)


def resolve_incident(ctx: Processing) -> None:
    """Pick up where the incident stopped: retry the job, or run the element's step again."""
    if not live_instance(ctx):
        return
    key = ctx.cmd.value.get("incidentKey")
    incident = ctx.inst.incidents.get(key) if isinstance(key, int) else None
    if incident is None:
        ctx.reject(f"Expected incident {key} to be open, but it is not", RejectionType.NOT_FOUND)
        return
    if incident.stage == BUDGET_STAGE:
        # the command that went beyond its budget was discarded: there is no step to run
        # again, and running it again would go beyond it again (as Zeebe bans an instance
        # whose processing failed, but visibly)
        ctx.reject(f"Expected an incident that can be retried, but incident {key} is "
                   f"{incident.error_type}: the command was discarded; cancel the instance",
                   RejectionType.INVALID_STATE)
        return
    elem = ctx.inst.elements[incident.element_key]
    ctx.write_element(Event.INCIDENT_RESOLVED, elem, {"key": incident.key, "reason": "resolved"})
    node = ctx.proc.node(elem.element_id)
    if incident.stage == "job":
        retries = ctx.cmd.value.get("retries", 1)
        job = ctx.inst.jobs.get(incident.job_key)
        job_type = job.type if job else (node.job_type or "service")
        if job is not None:
            ctx.write_element(Event.JOB_CANCELED, elem, {"key": job.key, "type": job.type})
        again = retries if isinstance(retries, int) and retries > 0 else 1
        if elem.kind == NodeKind.AD_HOC_SUB_PROCESS:
            adhoc_subprocess.request(ctx, elem, node, retries=again)
        elif elem.kind in decisions.DECIDING_KINDS:
            # a decision job again carries the gateway's flows for its handler
            decisions.request(ctx, elem, node, retries=again)
        else:
            work.create_job(ctx, elem, node, job_type, retries=again)
    elif incident.stage == "complete":
        flow.complete(ctx, elem)
    elif incident.stage == multi_instance.ARRIVE_STAGE:
        multi_instance.rearrive(ctx, elem)
    elif not ctx.processors[elem.kind].reactivates_on_resolve:
        ctx.reject("Expected an incident that can be retried; cancel the instance instead",
                   RejectionType.INVALID_STATE)
    else:
        flow.run_activation(ctx, elem, node, None)
