-- Two look-ups that grew with the history instead of staying one probe each (found under load,
-- bench/tagger_load.py, from pg_stat_user_tables / pg_stat_user_indexes):
--
-- 1. "Latest undo of the task" (the tagger drops its queue marks when it changes) walked every
--    answer of the task through (task, annotator, id). A partial index holds the undo rows only.
CREATE INDEX human_labels_task_undo_id ON human_labels (task, id) WHERE undoes IS NOT NULL;

-- 2. The trigger that releases a lease on an answer kept the plan it got while tagger_leases was
--    nearly empty: a sequential scan of every lease ever taken, per label. It updates one row by
--    its full primary key, so an index probe is right at every table size; say so.
CREATE OR REPLACE FUNCTION tagger_release_answered() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
BEGIN
    UPDATE tagger_leases SET expires_at = least(expires_at, clock_timestamp() + interval '5 seconds')
    WHERE task = NEW.task AND post_id = NEW.post_id AND annotator = NEW.annotator;
    RETURN NULL;
END $$;
