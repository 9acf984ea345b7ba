-- Web tagger: annotator accounts, and indexes for the tagger's per-annotator queries.

CREATE TABLE annotators (
    name           text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),  -- no ':' (reserved for import:/simulate:)
    password_hash  text NOT NULL,                 -- werkzeug.security hash, never the password
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled_at    timestamptz
);

-- "What has this annotator already answered?" for every queue, and the per-annotator report.
CREATE INDEX human_labels_task_annotator ON human_labels (task, annotator, post_id);

-- Prediction review serves the least confident predictions first.
CREATE INDEX predictions_review_order ON predictions (task, source, confidence);

-- The sequential split queue walks a split in md5 order from a low-water mark.
CREATE INDEX split_members_split_order ON split_members (version, split, norm_hash);
