-- Web tagger: roles, revocable sessions, login throttling, and plain indexes.
--
-- Indexes: the tagger runs every statement through SQLAlchemy with PostgreSQL's own plans; the
-- planner-steering indexes and function settings of 014-016 go, replaced by one plain index per
-- look-up: answers on an item (task, post_id) and one annotator's answers in order (task, annotator, id).
DROP INDEX human_labels_task_post_annotator;
DROP INDEX human_labels_annotator_latest;
DROP INDEX human_labels_task_undo_id;
CREATE INDEX human_labels_task_post ON human_labels (task, post_id);
CREATE INDEX human_labels_task_annotator ON human_labels (task, annotator, id);
-- A history row can be withdrawn once.
DROP INDEX human_labels_undoes;
CREATE UNIQUE INDEX human_labels_undoes ON human_labels (undoes) WHERE undoes IS NOT NULL;

-- Replacing the function drops the enable_seqscan setting 015 gave it.
CREATE OR REPLACE FUNCTION tagger_release_answered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tagger_leases SET expires_at = least(expires_at, clock_timestamp() + interval '5 seconds')
    WHERE task = NEW.task AND post_id = NEW.post_id AND annotator = NEW.annotator;
    RETURN NULL;
END $$;

-- Roles: admins resolve conflicts, override golden labels, see reports and export.
-- session_epoch: every session carries the epoch it was created in; logout, a password change and
-- disabling the account increment it, which ends every existing session of the account at once.
ALTER TABLE annotators
    ADD COLUMN role text NOT NULL DEFAULT 'annotator' CHECK (role IN ('admin', 'annotator')),
    ADD COLUMN session_epoch integer NOT NULL DEFAULT 0;

-- Failed logins per key ('account:<name>' or 'address:<ip>'): after a few failures each further
-- one locks the key for a growing delay (tagger_app/store/logins.py).
CREATE TABLE login_failures (
    key           text PRIMARY KEY,
    failures      integer NOT NULL,
    locked_until  timestamptz NOT NULL
);
