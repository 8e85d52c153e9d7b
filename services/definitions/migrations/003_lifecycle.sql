-- The definition lifecycle (docs/people.md): DRAFT -> REVIEW -> APPROVED -> AUTHORIZED -> RETIRED,
-- with REVIEW -> DRAFT and APPROVED -> DRAFT. New deploys are DRAFT; the rows deployed before
-- this migration keep the AUTHORIZED they were given (they are running already).
ALTER TABLE definitions ALTER COLUMN state SET DEFAULT 'DRAFT';
ALTER TABLE definitions ADD CONSTRAINT definitions_state_known
    CHECK (state IN ('DRAFT', 'REVIEW', 'APPROVED', 'AUTHORIZED', 'RETIRED'));
-- {laneId: persona}, set on the transition to APPROVED; published as `persona:<laneId>`
-- metadata with the definition record
ALTER TABLE definitions ADD COLUMN lane_personas jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Every transition of a version, numbered from 1 per version (the deploy itself is the
-- definitions row: deployed_at, deployed_by).
CREATE TABLE definition_transitions (
    process_id   text        NOT NULL,
    version      integer     NOT NULL,
    seq          integer     NOT NULL CHECK (seq > 0),
    from_state   text        NOT NULL,
    to_state     text        NOT NULL,
    -- the principal as JSON ({"kind", "id", "roles", "claims"})
    principal    jsonb       NOT NULL,
    comment      text,
    at           timestamptz NOT NULL DEFAULT now(),
    -- whether Kafka acknowledged the transition's audit record (events topic); the start of
    -- the service sends those that are still false (a publish that failed after the commit)
    audit_sent   boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (process_id, version, seq),
    FOREIGN KEY (process_id, version) REFERENCES definitions (process_id, version)
);

CREATE INDEX definition_transitions_unsent ON definition_transitions (process_id, version)
    WHERE NOT audit_sent;
