-- The query side of instance state: one row per instance, projected from the `state` topic.
-- Kept after the instance ends (a tombstone on the topic does not delete the row).
CREATE TABLE instances (
    instance_id      text        PRIMARY KEY,
    process_id       text        NOT NULL,
    version          integer     NOT NULL,
    business_key     text,
    status           text        NOT NULL,
    active_elements  jsonb       NOT NULL,
    variables        jsonb       NOT NULL,
    incidents        jsonb       NOT NULL,
    updated_at       timestamptz NOT NULL,
    -- where the snapshot was read: a snapshot from an older offset is never applied
    last_partition   integer     NOT NULL,
    last_offset      bigint      NOT NULL
);

CREATE INDEX instances_process_status ON instances (process_id, status);
CREATE INDEX instances_status ON instances (status);
CREATE INDEX instances_updated_at ON instances (updated_at DESC);
