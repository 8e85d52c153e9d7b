-- A deploy goes to the audit log too (DEFINITION_TRANSITIONED from null to DRAFT, seq 0), sent
-- after the commit like the transitions' records. Versions stored before this migration never
-- had one: they count as sent, new rows start unsent.
ALTER TABLE definitions ADD COLUMN deploy_audit_sent boolean NOT NULL DEFAULT true;
ALTER TABLE definitions ALTER COLUMN deploy_audit_sent SET DEFAULT false;

CREATE INDEX definitions_deploy_audit_unsent ON definitions (process_id, version)
    WHERE NOT deploy_audit_sent;
