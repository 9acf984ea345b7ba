-- Monitoring of the production model (bin/monitor.sh, docs/monitor.md).
--
-- monitor_checks: one row per check, appended, never updated: the live window it looked at, the
-- production run it judged, the figures (PSI against the training distribution, confidence, LF
-- coverage and agreement, golden labels since training) in metrics, the thresholds that tripped,
-- and what was decided: 'ok' (nothing tripped), 'tripped' (a threshold tripped, no retraining
-- asked), 'promoted' / 'refused' (a loop iteration ran and its model was promoted, or refused
-- with both scores in detail), 'failed' (the retraining itself failed; detail says why).
CREATE TABLE monitor_checks (
    id              bigserial PRIMARY KEY,
    task            text NOT NULL,
    checked_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    window_start    timestamptz NOT NULL,
    production_run  bigint REFERENCES runs (id),
    metrics         jsonb NOT NULL DEFAULT '{}',
    tripped         text[] NOT NULL DEFAULT '{}',
    decision        text NOT NULL CHECK (decision IN ('ok', 'tripped', 'promoted', 'refused', 'failed')),
    new_run         bigint REFERENCES runs (id),
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX monitor_checks_task ON monitor_checks (task, id);

-- The live dashboard reads the production predictions of a time window (per bucket, per label)
-- and the newest ones per label: plain indexes on when they were stored, the label included so
-- the counts come from the index alone.
CREATE INDEX predictions_created ON predictions (task, source, created_at, label);
CREATE INDEX predictions_label_created ON predictions (task, source, label, created_at);

-- The review sample of live predictions (bin/monitor.sh) is a queue of its own kind, served by
-- the tagger's prediction review of source 'production'.
ALTER TABLE queues DROP CONSTRAINT queues_kind_check;
ALTER TABLE queues ADD CONSTRAINT queues_kind_check CHECK (kind IN ('active', 'review', 'production'));
