"""The schedules API's bodies and answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class FireOut(_Model):
    dedup_key: str
    instance_id: str
    version: int
    summary: dict[str, Any]
    requested_by: str | None
    refused: str | None
    fired_at: datetime


class ErrorOut(_Model):
    at: datetime
    message: str


class ScheduleOut(_Model):
    id: str
    type: str
    process_id: str
    version: int
    start_event_id: str
    status: str = Field(description="active, paused, failing or retired")
    settings: dict[str, str]
    attributes: dict[str, str]
    timer: list[str] | None
    polled: bool
    cursor: Any = Field(description="Where the next poll continues (the trigger's own value)")
    next_poll_at: datetime | None
    last_poll_at: datetime | None
    last_fire_at: datetime | None
    fires_total: int
    failures: int
    last_error: str | None
    last_error_at: datetime | None
    credential_names: list[str] = Field(description="Names only: values are never shown")
    hook_path: str | None = Field(None, description="Where a webhook schedule is called")


class ScheduleDetail(ScheduleOut):
    recent_fires: list[FireOut]
    recent_errors: list[ErrorOut]


class ScheduleList(_Model):
    items: list[ScheduleOut]


class CredentialsIn(_Model):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True,
                              extra="forbid")
    values: dict[str, Any] = Field(description="Name → value; replaces what was set. {} "
                                               "clears them.")


class Fired(_Model):
    instance_ids: list[str]


class HookAccepted(_Model):
    instance_id: str
    duplicate: bool = Field(description="This delivery had already started the instance")
