-- Migration batches: an operator's migration of many running instances to another version,
-- one MIGRATE_INSTANCE command per instance, and what the engine answered each
-- (services/definitions/batches.py, docs/instance-operations.md).
CREATE TABLE migration_batches (
    batch_id        text        PRIMARY KEY,
    process_id      text        NOT NULL,
    target_version  integer     NOT NULL,
    mappings        jsonb       NOT NULL,
    principal       jsonb       NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE migration_items (
    batch_id        text        NOT NULL REFERENCES migration_batches ON DELETE CASCADE,
    instance_id     text        NOT NULL,
    command_id      text        NOT NULL,
    -- PENDING (not sent yet), SENT (no answer yet), DONE, REFUSED
    state           text        NOT NULL,
    rejection_type  text,
    reason          text,
    PRIMARY KEY (batch_id, instance_id)
);
