-- Model registry and predict-API tokens.
--
-- model_events is append-only: the production model of a task is the replay of its events as a
-- stack (promote pushes run_id, rollback pops back to the run below), so who changed production,
-- when, why and on which comparison is never overwritten. run_id is the model in production after
-- the event; previous_run_id the one before it. The predict API polls the task's latest event id
-- (index task, id) to notice a promotion cheaply.
CREATE TABLE model_events (
    id               bigserial PRIMARY KEY,
    task             text NOT NULL,
    action           text NOT NULL CHECK (action IN ('promote', 'rollback')),
    run_id           bigint NOT NULL REFERENCES runs (id),
    previous_run_id  bigint REFERENCES runs (id),
    actor            text NOT NULL,
    reason           text NOT NULL DEFAULT '',
    forced           boolean NOT NULL DEFAULT false,
    comparison       jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX model_events_task ON model_events (task, id);

-- Bearer tokens of the predict API: only the SHA-256 (hex) of each random token is stored; the
-- token itself is shown once, when it is created. Revoked tokens stay for the record.
CREATE TABLE api_tokens (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    token_hash    text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at    timestamptz,
    last_used_at  timestamptz
);
