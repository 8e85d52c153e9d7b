-- The triggers service: one schedule per trigger declared on a start event of a process's
-- running version (services/triggers/reconcile.py), what each poll fired, and its errors.
-- See docs/triggers.md.

CREATE TABLE schedules (
    -- uuid5(process id, start event id): the same across versions and replicas
    id                 uuid        PRIMARY KEY,
    type               text        NOT NULL,
    process_id         text        NOT NULL,
    -- the AUTHORIZED version it starts (the newest one not RETIRED)
    version            integer     NOT NULL,
    start_event_id     text        NOT NULL,
    -- the trigger's settings by local name, and the raw attribute bag as written
    settings           jsonb       NOT NULL DEFAULT '{}',
    attributes         jsonb       NOT NULL DEFAULT '{}',
    -- a timer start event's [kind, expression]
    timer              jsonb,
    -- false for a trigger started by requests (the webhook): never polled
    polled             boolean     NOT NULL,
    paused             boolean     NOT NULL DEFAULT false,
    -- the process has no running version declaring it any more (retired, superseded)
    retired            boolean     NOT NULL DEFAULT false,
    -- null until the first poll saved one; `polled_once` tells a null cursor from none
    cursor             jsonb,
    polled_once        boolean     NOT NULL DEFAULT false,
    next_poll_at       timestamptz NOT NULL DEFAULT now(),
    last_poll_at       timestamptz,
    last_fire_at       timestamptz,
    fires_total        bigint      NOT NULL DEFAULT 0,
    -- consecutive failed polls (0: healthy) and the last one's message
    failures           integer     NOT NULL DEFAULT 0,
    last_error         text,
    last_error_at      timestamptz,
    -- AES-GCM (nonce || ciphertext) of the credentials' JSON, bound to the schedule's id;
    -- the key is a secret of the deployment, never in the database
    credentials        bytea,
    credential_names   text[]      NOT NULL DEFAULT '{}',
    -- which replica polls it now, until when (a replica that died loses it at expiry)
    lease_owner        text,
    lease_until        timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX schedules_due ON schedules (next_poll_at)
    WHERE polled AND NOT paused AND NOT retired;
CREATE INDEX schedules_process ON schedules (process_id);

-- One row per item started: the dedup key is the item's identity, the instance id is derived
-- from (schedule, dedup key). Written after Kafka acknowledged the start, with the cursor.
CREATE TABLE fires (
    schedule_id        uuid        NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    dedup_key          text        NOT NULL,
    instance_id        uuid        NOT NULL,
    version            integer     NOT NULL,
    summary            jsonb       NOT NULL DEFAULT '{}',
    -- who asked for it when an operator fired the schedule by hand
    requested_by       text,
    -- why no instance was started for the item (its variables too large), else null
    refused            text,
    fired_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, dedup_key)
);

CREATE INDEX fires_recent ON fires (schedule_id, fired_at DESC);

-- The last errors of each schedule (the scheduler keeps the newest few).
CREATE TABLE schedule_errors (
    id                 bigserial   PRIMARY KEY,
    schedule_id        uuid        NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    at                 timestamptz NOT NULL DEFAULT now(),
    message            text        NOT NULL
);

CREATE INDEX schedule_errors_recent ON schedule_errors (schedule_id, id DESC);
