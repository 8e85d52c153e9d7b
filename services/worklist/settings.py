"""Settings of the worklist service: the shared `Settings` plus the projection's, the SLA
loop's and the task routes' knobs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from laneway.service_schemas import service_schema
from laneway.settings import Settings, positive_float, positive_int, projection_knobs


@dataclass(frozen=True, slots=True, kw_only=True)
class WorklistSettings:
    """Everything the worklist service reads from the environment, checked once."""

    common: Settings
    """Connections, topic prefix, port, timeouts shared by every service."""
    group: str
    """The projection's consumer group (`LANEWAY_WORKLIST_GROUP`, default `<prefix>worklist`)."""
    database_schema: str
    """PostgreSQL schema of the worklist's tables (`tasks`, `task_commands`): `worklist`, or
    `<LANEWAY_DB_SCHEMA>_worklist` under a base (`laneway.service_schemas`)."""
    definitions_schema: str
    """The definitions service's schema, whose form registry completions are checked
    against (read only, `laneway.shared_reads.FormSchemas`)."""
    batch_size: int
    """Most records in one database transaction (`LANEWAY_WORKLIST_BATCH_SIZE`, default 500)."""
    poll_timeout_s: float
    """How long one poll waits for records (`LANEWAY_WORKLIST_POLL_S`, default 0.2)."""
    session_timeout_ms: int
    """The consumer's group session timeout (`LANEWAY_WORKLIST_SESSION_TIMEOUT_MS`, default
    45000)."""
    commit_async: bool
    """Whether the projection commits its offsets without waiting
    (`LANEWAY_WORKLIST_COMMIT_ASYNC`, default on; `laneway.settings.ProjectionKnobs`): its
    writes are guarded by the record's partition and offset, so a batch read again changes
    nothing."""
    commit_interval_s: float
    """How long its offsets may be held back to be committed with the next batches'
    (`LANEWAY_WORKLIST_COMMIT_INTERVAL_MS`, default 100; 0: each batch's at once;
    `laneway.settings.ProjectionKnobs`): one OffsetCommit request to the broker per interval
    instead of one per batch. The answers do not wait for it: they are handed over once the
    database transaction committed."""
    sla_poll_s: float
    """How often the SLA loop looks for overdue tasks (`LANEWAY_SLA_POLL_S`, default 5)."""
    sla_resend_s: float
    """How long after sending ESCALATE_USER_TASK for a task the SLA loop sends it again while
    no USER_TASK_ESCALATED has been projected (`LANEWAY_SLA_RESEND_S`, default 60)."""
    publish_timeout_s: float
    """How long a command waits for Kafka's acknowledgement (`LANEWAY_PUBLISH_TIMEOUT_S`,
    default 10)."""
    task_answer_s: float
    """How long a task command (claim, unclaim, complete) waits for the engine's answer to be
    projected (`LANEWAY_TASK_ANSWER_S`, default 10)."""
    task_answer_poll_s: float
    """How often a task command's request looks for the answer anyway while it is woken by
    the projection's notifications (`LANEWAY_TASK_ANSWER_POLL_S`, default 1; while the
    listening connection is down it looks every 0.05 s: `services.worklist.answers`)."""
    pool_size: int
    """Most PostgreSQL connections the task routes hold (`LANEWAY_DB_POOL_SIZE`, default
    10)."""

    @property
    def topic_prefix(self) -> str:
        """Prefix of every topic name."""
        return self.common.topic_prefix


def load_settings(environ: Mapping[str, str] | None = None) -> WorklistSettings:
    """Read the worklist service's settings from `environ` (default: the process environment).

    Raises SettingsError naming the first malformed setting. The bearer-token keys
    (`LANEWAY_JWT_*`) are read by `__main__` (`laneway.auth.AuthSettings`).
    """
    common = Settings.from_env("worklist", environ)
    env: Mapping[str, str] = os.environ if environ is None else environ
    return WorklistSettings(
        common=common,
        **projection_knobs(env, "worklist", common.topic_prefix, batch_size=500),
        database_schema=service_schema(env, "worklist"),
        definitions_schema=service_schema(env, "definitions"),
        sla_poll_s=positive_float(env, "LANEWAY_SLA_POLL_S", 5.0),
        sla_resend_s=positive_float(env, "LANEWAY_SLA_RESEND_S", 60.0),
        publish_timeout_s=positive_float(env, "LANEWAY_PUBLISH_TIMEOUT_S", 10.0),
        task_answer_s=positive_float(env, "LANEWAY_TASK_ANSWER_S", 10.0),
        task_answer_poll_s=positive_float(env, "LANEWAY_TASK_ANSWER_POLL_S", 1.0),
        pool_size=positive_int(env, "LANEWAY_DB_POOL_SIZE", 10),
    )
