"""Request and response bodies of the HTTP API (JSON field names are camelCase)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from laneway.web.bounds import MAX_INT, MAX_TTL_S
from services.definitions.lifecycle import State as LifecycleState


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ErrorItem(ApiModel):
    """One problem found in an uploaded diagram."""

    file: str = Field(description="The uploaded file's name (`upload.bpmn` when none was given).")
    line: int = Field(description="Line in the file (0 when the problem has no line).")
    element_id: str | None = Field(description="The element the problem is about, if any.")
    message: str = Field(description="What is wrong, and what was expected.")


class DiagramErrors(ApiModel):
    """A diagram was refused: every problem found, in file order."""

    errors: list[ErrorItem] = Field(description="Every problem found.")


class CheckProblem(ApiModel):
    """One thing a check of a diagram found."""

    element: str | None = Field(description="The id of the element it is about, if any.")
    line: int | None = Field(description="The line in the file, if known.")
    message: str = Field(description="What is wrong, as `laneway validate` says it.")
    severity: Literal["error", "warning"] = Field(
        description="`error` refuses the deploy; `warning` does not (a loop that never "
                    "waits, a process that calls itself).")


class CheckResult(ApiModel):
    """What a check of a diagram found; nothing was stored."""

    ok: bool = Field(description="True when a deploy would accept the file (warnings aside).")
    problems: list[CheckProblem] = Field(description="The errors by line, then the "
                                                     "warnings by line.")


class Detail(BaseModel):
    """An error that is not about a diagram."""

    detail: str = Field(description="What went wrong.")


class DeployedVersion(ApiModel):
    """One process of the uploaded file, as stored."""

    process_id: str = Field(description="The BPMN process id.")
    version: int = Field(description="The version number (1, 2, ... per process id).")
    new: bool = Field(description="False when the same process (same digest) was already "
                                  "deployed: the existing version is returned.")


class DeployResponse(ApiModel):
    """What a deploy stored."""

    deployed: list[DeployedVersion] = Field(description="One entry per process in the file.")


class DefinitionSummary(ApiModel):
    """A deployed process version (without its XML)."""

    process_id: str = Field(description="The BPMN process id.")
    version: int = Field(description="The version number.")
    name: str | None = Field(description="The process's name attribute, if any.")
    deployed_at: datetime = Field(description="When this version was first deployed.")
    digest: str = Field(description="Hex SHA-256 over the file's bytes and the process id.")
    state: LifecycleState = Field(description="Where the version is in its lifecycle; only "
                                              "AUTHORIZED versions can be started.")
    author: str | None = Field(description="The principal id who deployed this version "
                                           "first (null for an unknown one).")


class TransitionRequest(ApiModel):
    """Move a definition version to another lifecycle state."""

    to: LifecycleState = Field(description="The state to move to.")
    comment: str | None = Field(default=None, max_length=4000,
                                description="Why; kept in the history and the audit log.")
    personas: dict[str, str] | None = Field(
        default=None, description="{laneId: persona} for lanes without `laneway:persona`; "
                                  "only on the transition to APPROVED.")


class VersionState(ApiModel):
    """A definition version's lifecycle state."""

    process_id: str = Field(description="The BPMN process id.")
    version: int = Field(description="The version number.")
    state: LifecycleState = Field(description="The state now.")
    personas: dict[str, str] = Field(description="{laneId: persona} set on approval.")
    applied: bool = Field(description="False when the request repeated the transition that "
                                      "brought the version here (a retry): nothing changed.")


class LifecycleStep(ApiModel):
    """The deploy, or one transition."""

    seq: int = Field(description="0 for the deploy, then 1, 2, ... per transition.")
    from_state: LifecycleState | None = Field(alias="from",
                                              description="null for the deploy.")
    to_state: LifecycleState = Field(alias="to", description="The state reached.")
    principal: dict[str, Any] = Field(description="Who: `{kind, id, roles}`.")
    comment: str | None = Field(description="Why, if given.")
    at: datetime = Field(description="When.")


class LifecycleHistory(ApiModel):
    """A version's deploy and every transition, oldest first."""

    process_id: str = Field(description="The BPMN process id.")
    version: int = Field(description="The version number.")
    steps: list[LifecycleStep] = Field(description="The deploy, then every transition.")


class StartInstance(ApiModel):
    """Start a process instance."""

    process_id: str = Field(min_length=1, description="The process to start.")
    version: int | None = Field(default=None, ge=1, le=MAX_INT,
                                description="An AUTHORIZED version to start; the newest "
                                            "AUTHORIZED one when absent.")
    variables: dict[str, Any] = Field(default_factory=dict,
                                      description="The instance's initial variables.")
    business_key: str | None = Field(default=None,
                                     description="The caller's own key for the instance.")
    instance_id: uuid.UUID | None = Field(
        default=None,
        description="The new instance's id, chosen by the caller (a UUID), so that a start "
                    "retried after a lost answer starts nothing twice: the engine refuses an "
                    "id it holds or has ended (ALREADY_EXISTS). A new UUID when absent.")


class StartedInstance(ApiModel):
    """A START_INSTANCE command is on the `commands` topic."""

    instance_id: str = Field(description="The new instance's id (a UUID); the engine starts "
                                         "it asynchronously.")


class EvaluateConditions(ApiModel):
    """Data from outside for the conditional start events of deployed processes."""

    variables: dict[str, Any] = Field(
        default_factory=dict,
        description="The variables the conditions are evaluated with; each instance started "
                    "gets them.")
    process_id: str | None = Field(
        default=None, min_length=1, max_length=256,
        description="Evaluate only this process's conditional start events (it must have an "
                    "AUTHORIZED version); every deployed process's when absent.")


class ConditionsEvaluated(ApiModel):
    """An EVALUATE_CONDITIONS command is on the `messages` topic."""

    command_id: str = Field(
        description="The command's record id: its rejection (no condition held) has the id "
                    "`<commandId>.r0...` and the instance id `<commandId>` in the event log.")


class PublishMessage(ApiModel):
    """Publish a BPMN message."""

    name: str = Field(min_length=1, description="The message name.")
    correlation_key: str = Field(description="The key subscriptions wait on.")
    variables: dict[str, Any] = Field(default_factory=dict,
                                      description="Variables the message carries.")
    message_id: str | None = Field(default=None, min_length=1,
                                   description="An id for de-duplication; a new UUID when "
                                               "absent.")
    ttl_seconds: float | None = Field(
        default=None, ge=0, le=MAX_TTL_S, allow_inf_nan=False,
        description="How long the message waits for a subscription, in seconds (0: correlate "
                    "now or never); when absent, the service's default (LANEWAY_MESSAGE_TTL_S, "
                    "one hour); at most LANEWAY_MAX_MESSAGE_TTL_S (a week).")


class PublishedMessage(ApiModel):
    """A PUBLISH_MESSAGE command is on the `messages` topic."""

    message_id: str = Field(description="The message's id.")


class ResolveIncident(ApiModel):
    """How to pick up after an incident."""

    retries: int = Field(default=1, ge=1, le=MAX_INT,
                         description="For a job's incident: the retries the job is created "
                                     "again with.")


class IncidentResolution(ApiModel):
    """A RESOLVE_INCIDENT command was sent; the engine acts on it asynchronously."""

    instance_id: str = Field(description="The instance.")
    incident_key: int = Field(description="The incident's key within the instance.")


class InstanceCancellation(ApiModel):
    """A CANCEL_INSTANCE command was sent; the engine acts on it asynchronously."""

    instance_id: str = Field(description="The instance.")
    command_id: str | None = Field(default=None,
                                   description="The command's record id: its events and its "
                                               "rejection carry ids that begin with it "
                                               "(GET /api/instances/{id}/commands/{commandId}).")


class SetVariables(ApiModel):
    """Variables to set in a running instance."""

    variables: dict[str, Any] = Field(min_length=1, description="The variables to set.")
    scope_key: int | None = Field(default=None, ge=1, le=MAX_INT,
                                  description="A live element instance whose scope they are "
                                              "set in (its key, as the instance's "
                                              "`activeElements` show it); the process "
                                              "instance when absent.")
    local: bool = Field(default=False,
                        description="Set them on that scope itself; otherwise each goes to the "
                                    "nearest scope from there up that has it, else to the "
                                    "process instance.")


class ModifyInstruction(ApiModel):
    """One instruction of a modification."""

    type: Literal["ACTIVATE", "TERMINATE", "MOVE"] = Field(
        description="ACTIVATE an element, TERMINATE an element instance, MOVE a token "
                    "(terminate the instance(s) named, activate the element).")
    element_id: str | None = Field(default=None, max_length=256,
                                   description="ACTIVATE, MOVE: the element to activate; "
                                               "TERMINATE without a key: every live "
                                               "instance of it.")
    element_instance_key: int | None = Field(default=None, ge=1, le=MAX_INT,
                                             description="TERMINATE, MOVE: the element "
                                                         "instance to end.")
    from_element_id: str | None = Field(default=None, max_length=256,
                                        description="MOVE: every live instance of this "
                                                    "element, instead of a key.")
    scope_key: int | None = Field(default=None, ge=1, le=MAX_INT,
                                  description="ACTIVATE: the live scope (or an ancestor) to "
                                              "activate it in, when several could hold it.")
    variables: dict[str, Any] | None = Field(default=None,
                                             description="Set in the scope the element is "
                                                         "activated in, first.")


class ModifyInstance(ApiModel):
    """A modification: applied whole, or refused whole by the engine with every reason."""

    instructions: list[ModifyInstruction] = Field(min_length=1, max_length=100,
                                                  description="Terminations run first, then "
                                                              "activations in this order.")


class MigrateInstance(ApiModel):
    """Move a running instance to another version of its process."""

    target_version: int = Field(ge=1, le=MAX_INT, description="The version to move to "
                                                              "(AUTHORIZED).")
    mappings: dict[str, str] = Field(default_factory=dict, max_length=1000,
                                     description="Element id of the running version -> "
                                                 "element id of the target; an element not "
                                                 "named keeps its id.")


class MigrationBatch(MigrateInstance):
    """Migrate many running instances of a process: those named, or every running one (of
    `sourceVersion` when given), at most 1000."""

    process_id: str = Field(min_length=1, max_length=256, description="The process.")
    instance_ids: list[str] | None = Field(default=None, min_length=1, max_length=1000,
                                           description="The instances; all running ones "
                                                       "(of sourceVersion) when absent.")
    source_version: int | None = Field(default=None, ge=1, le=MAX_INT,
                                       description="Only instances of this version.")


class OperationSent(ApiModel):
    """The command was sent; the engine acts on it asynchronously (a refusal is a rejection
    in the instance's history, with its reason)."""

    instance_id: str = Field(description="The instance.")
    command_id: str = Field(description="The command's record id: its events and its "
                                        "rejection carry ids that begin with it "
                                        "(GET /api/instances/{id}/commands/{commandId}).")


class MigrationItem(ApiModel):
    """One instance of a batch."""

    instance_id: str = Field(description="The instance.")
    state: Literal["PENDING", "SENT", "DONE", "REFUSED"] = Field(
        description="PENDING: not sent; SENT: no answer yet; DONE: migrated; REFUSED: "
                    "the reason says why.")
    rejection_type: str | None = Field(default=None, description="REFUSED: the rejection "
                                                                 "type.")
    reason: str | None = Field(default=None, description="REFUSED: why.")


class MigrationProgress(ApiModel):
    """A migration batch and how far it got."""

    batch_id: str = Field(description="The batch.")
    process_id: str = Field(description="The process.")
    target_version: int = Field(description="The version its instances move to.")
    total: int = Field(description="Instances in the batch.")
    done: int = Field(description="Migrated.")
    refused: int = Field(description="Refused (by the engine, or unknown instances).")
    pending: int = Field(description="Not answered yet.")
    items: list[MigrationItem] = Field(description="Every instance (the first 1000).")
