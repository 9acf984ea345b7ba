-- Run history of the loop (models/): trainings, evaluations, loop iterations and simulations.
CREATE TABLE runs (
    id            bigserial PRIMARY KEY,
    task          text NOT NULL,
    task_hash     text NOT NULL,                 -- sha256 of the task file
    version       integer REFERENCES dataset_versions (version),
    kind          text NOT NULL CHECK (kind IN ('train', 'evaluate', 'loop', 'simulate')),
    parent_id     bigint REFERENCES runs (id),   -- evaluate -> the train run it scored; loop -> its train run
    lf_run_id     bigint REFERENCES lf_runs (id),
    params        jsonb NOT NULL DEFAULT '{}',
    metrics       jsonb NOT NULL DEFAULT '{}',
    model_path    text,
    golden_train  integer NOT NULL DEFAULT 0,    -- golden labels used for training (pool splits)
    golden_dev    integer NOT NULL DEFAULT 0,
    golden_test   integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX runs_task_kind ON runs (task, kind, id);
