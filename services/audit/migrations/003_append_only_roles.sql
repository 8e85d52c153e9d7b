-- Append-only for real (docs/audit.md "Who may write"): the sink writes with a role of its own
-- that holds only SELECT and INSERT on audit_log (granted at every start by
-- services/audit/db.py `grant_writer`); this migration's role owns the tables. What is left to
-- the owner is guarded twice: maintenance needs the owner's role AND the switch, and every
-- instance's head is signed (`audit_heads`) with a key the database never sees, so an owner
-- who cuts the tail or recomputes the chain is named by `verify`.

-- Maintenance: the switch alone no longer opens the table; the session's role must be a
-- member of the table's owner (any session may set a custom setting, but only the owner's
-- members pass here; the writer is refused by its grants before this trigger even runs).
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('laneway.audit_maintenance', true), '') <> 'on'
       OR NOT pg_has_role(current_user,
                          (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'maintenance needs the owner''s role and '
                         'SET LOCAL laneway.audit_maintenance = on';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

COMMENT ON TABLE audit_log IS
    'Append-only: the writer role may only SELECT and INSERT; UPDATE, DELETE and TRUNCATE '
    'raise unless the owner''s role sets laneway.audit_maintenance = on';

-- The signed head of each instance's chain: the last seq and hash the sink wrote, and an
-- HMAC over them with the audit key (services/audit/anchor.py), written in the same
-- transaction as the rows. A head only moves forward.
CREATE TABLE audit_heads (
    instance_id text        PRIMARY KEY,
    seq         bigint      NOT NULL CHECK (seq >= 1),
    hash        char(64)    NOT NULL,
    mac         char(64)    NOT NULL,
    signed_at   timestamptz NOT NULL DEFAULT now()
);

-- The writer may move a head forward (its INSERT ... ON CONFLICT DO UPDATE), never back: an
-- old signed head put back would hide a cut tail. The forward move, one per instance per
-- batch, never calls the function (the trigger's WHEN); the rest needs maintenance.
CREATE FUNCTION audit_heads_forward_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('laneway.audit_maintenance', true), '') <> 'on'
       OR NOT pg_has_role(current_user,
                          (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
        RAISE EXCEPTION 'audit_heads only moves forward: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'maintenance needs the owner''s role and '
                         'SET LOCAL laneway.audit_maintenance = on';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER audit_heads_no_rewind
    BEFORE UPDATE ON audit_heads
    FOR EACH ROW WHEN (NEW.seq <= OLD.seq OR NEW.instance_id <> OLD.instance_id)
    EXECUTE FUNCTION audit_heads_forward_only();

CREATE TRIGGER audit_heads_no_delete
    BEFORE DELETE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only();

CREATE TRIGGER audit_heads_no_truncate
    BEFORE TRUNCATE ON audit_heads
    FOR EACH STATEMENT EXECUTE FUNCTION audit_heads_forward_only();
