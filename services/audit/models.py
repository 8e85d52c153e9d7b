"""Response bodies of the instance routes (JSON field names are camelCase)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


InstanceStatus = Literal["ACTIVE", "COMPLETED", "TERMINATED", "INCIDENT"]


class Incident(ApiModel):
    """An open incident of an instance."""

    id: str = Field(default="", description="`<instanceId>:<key>`, the id that "
                    "`POST /api/incidents/{id}/resolve` takes.")
    key: int = Field(description="The incident's key within the instance.")
    element_id: str | None = Field(description="The element it holds.")
    error_type: str = Field(description="The kind of failure.")
    message: str = Field(description="What went wrong.")


class InstanceView(ApiModel):
    """An instance as last projected from the `state` topic (eventually consistent)."""

    instance_id: str = Field(description="The instance id.")
    process_id: str = Field(description="Its process.")
    version: int = Field(description="Its process version.")
    business_key: str | None = Field(description="The caller's key, if one was given.")
    status: InstanceStatus = Field(description="ACTIVE, COMPLETED, TERMINATED, or INCIDENT "
                                               "while an incident is open.")
    active_elements: list[str] = Field(description="Ids of the elements with a live token "
                                                   "or scope.")
    variables: dict[str, Any] = Field(description="The process-level variables.")
    incidents: list[Incident] = Field(description="Open incidents.")
    updated_at: datetime = Field(description="The snapshot's timestamp.")


class InstancePage(ApiModel):
    """One page of instances, most recently updated first."""

    count: int = Field(description="How many instances match in all.")
    items: list[InstanceView] = Field(description="This page.")
