-- The audit log: every record of the events topic, append-only, hash-chained per instance.
-- See docs/audit.md and services/audit/chain.py for the chain.

CREATE TABLE audit_log (
    instance_id      text        NOT NULL,
    seq              bigint      NOT NULL CHECK (seq >= 1),
    record_id        text        NOT NULL UNIQUE,
    kind             text        NOT NULL,
    intent           text        NOT NULL,
    element_id       text        NOT NULL,
    element_type     text        NOT NULL,
    token_id         bigint      NOT NULL,
    scope_id         bigint      NOT NULL,
    principal        jsonb       NOT NULL,
    value            jsonb       NOT NULL,
    event_time       timestamptz NOT NULL,
    written_at       timestamptz NOT NULL DEFAULT now(),
    source_topic     text        NOT NULL,
    source_partition integer     NOT NULL,
    source_offset    bigint      NOT NULL,
    prev_hash        char(64)    NOT NULL,
    hash             char(64)    NOT NULL,
    PRIMARY KEY (instance_id, seq)
);

COMMENT ON TABLE audit_log IS
    'Append-only: UPDATE, DELETE and TRUNCATE raise unless laneway.audit_maintenance = on';

-- The owner of a table cannot revoke its own UPDATE and DELETE in a way that sticks, so
-- the database refuses them with a trigger. Maintenance (and the tests that simulate
-- tampering) opts in per session or transaction: SET LOCAL laneway.audit_maintenance = on.
CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('laneway.audit_maintenance', true), '') <> 'on' THEN
        RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'set laneway.audit_maintenance = on for maintenance';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_log_no_update_or_delete
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
