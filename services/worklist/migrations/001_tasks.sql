-- The worklist: one row per user task, projected from the user-task events of the `events`
-- topic (services/worklist/projection.py), and the engine's answer to every task command.
-- See docs/worklist.md.

CREATE TABLE tasks (
    -- '<instanceId>:<key>': unique across instances and URL-safe (instance ids are UUIDs)
    task_id              text        PRIMARY KEY,
    instance_id          text        NOT NULL,
    task_key             bigint      NOT NULL,
    process_id           text        NOT NULL,
    version              integer     NOT NULL,
    element_id           text        NOT NULL,
    element_name         text,
    lane                 text,
    lane_id              text,
    persona              text,
    -- persona_key(persona): how personas compare (laneway.engine.records.persona_key)
    persona_key          text,
    attributes           jsonb       NOT NULL DEFAULT '{}',
    form                 text,
    -- who holds the task now (a claim, or the static assignee of the diagram)
    assignee             text,
    -- the diagram's static assignee, which an unclaim gives the task back to
    static_assignee      text,
    candidate_users      text[]      NOT NULL DEFAULT '{}',
    candidate_groups     text[]      NOT NULL DEFAULT '{}',
    state                text        NOT NULL
                         CHECK (state IN ('open', 'claimed', 'completed', 'cancelled')),
    variables            jsonb       NOT NULL DEFAULT '{}',
    created_at           timestamptz NOT NULL,
    claimed_at           timestamptz,
    completed_at         timestamptz,
    cancelled_at         timestamptz,
    due_at               timestamptz,
    escalation_connector text,
    escalated_at         timestamptz,
    -- when the SLA loop last sent ESCALATE_USER_TASK (a restart resends only after a while)
    escalation_sent_at   timestamptz,
    completed_by         jsonb,
    result               jsonb,
    -- the last record applied and where it was read: a redelivered record (at or before this
    -- offset of the instance's partition) changes nothing
    last_record_id       text        NOT NULL,
    last_partition       integer     NOT NULL,
    last_offset          bigint      NOT NULL
);

CREATE INDEX tasks_instance ON tasks (instance_id);
CREATE INDEX tasks_state_created ON tasks (state, created_at);
CREATE INDEX tasks_assignee ON tasks (assignee) WHERE state IN ('open', 'claimed');
CREATE INDEX tasks_due ON tasks (due_at)
    WHERE state IN ('open', 'claimed') AND escalated_at IS NULL AND due_at IS NOT NULL;

-- The engine's answer to each CLAIM / UNCLAIM / COMPLETE / ESCALATE_USER_TASK command, keyed
-- by the command's record id (an event's id is '<command id>.<n>', a rejection's
-- '<command id>.r<n>'). The API waits for its command's row here.
CREATE TABLE task_commands (
    command_id      text        PRIMARY KEY,
    task_id         text        NOT NULL,
    intent          text        NOT NULL,
    outcome         text        NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    reason          text,
    rejection_type  text,
    principal       jsonb       NOT NULL,
    at              timestamptz NOT NULL
);

CREATE INDEX task_commands_task ON task_commands (task_id);
