-- The `response` connector's one-time links (services/triggers/respond.py): a row per link
-- that was answered, written before the answer is sent on, so a second answer finds it and
-- is refused (409). Deleted again only when Kafka did not take the answer.

CREATE TABLE responses (
    -- the token's id (the signed link's nonce)
    token_id     text        PRIMARY KEY,
    instance_id  text        NOT NULL,
    -- `form` or `webhook`
    via          text        NOT NULL,
    answered_at  timestamptz NOT NULL DEFAULT now()
);
