-- Deployed process versions. One row per process version; a file with several processes
-- gives several rows, each holding the whole file as uploaded.
CREATE TABLE definitions (
    process_id   text        NOT NULL,
    version      integer     NOT NULL CHECK (version > 0),
    name         text,
    xml          bytea       NOT NULL,
    file_name    text        NOT NULL,
    digest       text        NOT NULL,
    deployed_at  timestamptz NOT NULL DEFAULT now(),
    -- the principal as JSON ({"kind", "id", "roles", "claims"}); the system principal until
    -- JWTs reach the HTTP edge
    deployed_by  jsonb       NOT NULL,
    -- The lifecycle (DRAFT, REVIEW, APPROVED, AUTHORIZED, RETIRED) lands with a later issue;
    -- until then every deployed version is AUTHORIZED, the only state the engine may start.
    state        text        NOT NULL DEFAULT 'AUTHORIZED',
    PRIMARY KEY (process_id, version),
    UNIQUE (process_id, digest)
);

CREATE INDEX definitions_deployed_at ON definitions (deployed_at DESC);
