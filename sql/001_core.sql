-- goldloop core schema: raw posts, ingestion batches, data-set versions and split membership,
-- human labels (append-only history) and the tables the later steps share.

CREATE TABLE ingest_batches (
    id           bigserial PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    sources      text[] NOT NULL,                -- input paths as given
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    read         integer NOT NULL DEFAULT 0,
    inserted     integer NOT NULL DEFAULT 0,
    duplicates   integer NOT NULL DEFAULT 0,
    rejected     integer NOT NULL DEFAULT 0,
    options      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE raw_posts (
    id            text PRIMARY KEY,              -- source id as text (tweet ids overflow doubles)
    created_at    timestamptz,
    text          text NOT NULL,                 -- full, untruncated, HTML-unescaped, t.co links expanded
    lang          text,
    author        text,                          -- screen name / handle
    author_id     text,
    source_app    text,                          -- e.g. "Twitter for iPhone"
    is_retweet    boolean NOT NULL DEFAULT false,
    retweeted_id  text,                          -- id of the original post when is_retweet
    hashtags      text[] NOT NULL DEFAULT '{}',
    mentions      text[] NOT NULL DEFAULT '{}',
    urls          text[] NOT NULL DEFAULT '{}',  -- expanded URLs
    media_urls    text[] NOT NULL DEFAULT '{}',
    raw           jsonb,                         -- the original record
    source_file   text,
    source_line   integer,
    batch_id      bigint REFERENCES ingest_batches (id),
    ingested_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX raw_posts_created_at ON raw_posts (created_at);

CREATE TABLE dataset_versions (
    version     serial PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    seed        integer,
    params      jsonb NOT NULL DEFAULT '{}',     -- requested sizes, language filter, assignments
    counts      jsonb NOT NULL DEFAULT '{}',     -- split -> number of posts
    export_dir  text
);

CREATE TABLE split_members (
    version    integer NOT NULL REFERENCES dataset_versions (version),
    post_id    text NOT NULL REFERENCES raw_posts (id),
    split      text NOT NULL CHECK (split IN ('test', 'dev', 'lf', 'train')),
    norm_hash  text NOT NULL,                    -- md5 of the normalized text
    PRIMARY KEY (version, post_id),
    UNIQUE (version, norm_hash)                  -- no normalized text in two splits
);
CREATE INDEX split_members_split ON split_members (version, split);

-- Human labels: an append-only history. Undo appends an 'undo' row pointing at the label it
-- withdraws; a 'resolve' row (conflict resolution) overrides every annotator's label.
CREATE TABLE human_labels (
    id           bigserial PRIMARY KEY,
    task         text NOT NULL,
    post_id      text NOT NULL REFERENCES raw_posts (id),
    action       text NOT NULL CHECK (action IN ('label', 'undo', 'skip', 'resolve')),
    label        text,                           -- label name; NULL for undo and skip
    annotator    text NOT NULL,                  -- account name, or "import:<file>" / "simulate:<strategy>"
    source       text NOT NULL,                  -- tagger, review, import, simulate, resolve
    undoes       bigint REFERENCES human_labels (id),
    duration_ms  integer,                        -- how long the item was on screen
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    meta         jsonb NOT NULL DEFAULT '{}',
    CHECK ((action IN ('label', 'resolve')) = (label IS NOT NULL)),
    CHECK ((action = 'undo') = (undoes IS NOT NULL))
);
CREATE INDEX human_labels_task_post ON human_labels (task, post_id);
CREATE INDEX human_labels_undoes ON human_labels (undoes) WHERE undoes IS NOT NULL;

CREATE FUNCTION human_labels_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'human_labels is append-only: % is not allowed', TG_OP;
END $$;
CREATE TRIGGER human_labels_no_update BEFORE UPDATE OR DELETE ON human_labels
    FOR EACH ROW EXECUTE FUNCTION human_labels_append_only();

-- Each annotator's current label per item: their latest label or resolve that was not undone.
CREATE VIEW annotator_labels AS
SELECT DISTINCT ON (h.task, h.post_id, h.annotator)
       h.task, h.post_id, h.annotator, h.label, h.action, h.source, h.created_at, h.id AS label_id
FROM human_labels h
WHERE h.action IN ('label', 'resolve')
  AND NOT EXISTS (SELECT 1 FROM human_labels u WHERE u.undoes = h.id)
ORDER BY h.task, h.post_id, h.annotator, h.created_at DESC, h.id DESC;

-- The golden label per item: the latest resolution if any, else the label all annotators agree
-- on; NULL (conflict = true) while annotators disagree.
CREATE VIEW golden_labels AS
WITH per_item AS (
    SELECT task, post_id,
           count(*) FILTER (WHERE action = 'label')                  AS n_annotators,
           count(DISTINCT label) FILTER (WHERE action = 'label')     AS n_distinct,
           min(label) FILTER (WHERE action = 'label')                AS agreed_label,
           (array_agg(label ORDER BY created_at DESC, label_id DESC)
                FILTER (WHERE action = 'resolve'))[1]                AS resolved_label
    FROM annotator_labels
    GROUP BY task, post_id
)
SELECT task, post_id,
       COALESCE(resolved_label, CASE WHEN n_distinct = 1 THEN agreed_label END) AS label,
       n_annotators,
       resolved_label IS NULL AND n_distinct > 1                                AS conflict,
       resolved_label IS NOT NULL                                               AS resolved
FROM per_item;

-- Labeling-function runs (bin/label.sh) and their votes, for analysis and tagger hints.
CREATE TABLE lf_runs (
    id          bigserial PRIMARY KEY,
    task        text NOT NULL,
    task_hash   text NOT NULL,                   -- sha256 of the task file
    version     integer NOT NULL REFERENCES dataset_versions (version),
    created_at  timestamptz NOT NULL DEFAULT now(),
    lf_names    text[] NOT NULL,
    label_names text[] NOT NULL,
    summary     jsonb NOT NULL DEFAULT '{}',     -- LF summary, label-model and majority-vote metrics
    params      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE lf_votes (
    run_id   bigint NOT NULL REFERENCES lf_runs (id) ON DELETE CASCADE,
    post_id  text NOT NULL REFERENCES raw_posts (id),
    votes    smallint[] NOT NULL,                -- one entry per lf_runs.lf_names; -1 = abstain
    PRIMARY KEY (run_id, post_id)
);

-- Model predictions offered for review in the tagger (label model or end model).
CREATE TABLE predictions (
    task        text NOT NULL,
    source      text NOT NULL,                   -- 'label_model' or 'end_model'
    post_id     text NOT NULL REFERENCES raw_posts (id),
    version     integer REFERENCES dataset_versions (version),
    label       text NOT NULL,
    confidence  real NOT NULL,
    probs       jsonb NOT NULL DEFAULT '{}',
    run_ref     text,                            -- lf_runs.id or model run id it came from
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (task, source, post_id)
);

-- Work queues the tagger serves (active learning, label review); written by the loop.
CREATE TABLE queues (
    id          bigserial PRIMARY KEY,
    task        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('active', 'review')),
    strategy    text NOT NULL,
    version     integer REFERENCES dataset_versions (version),
    created_at  timestamptz NOT NULL DEFAULT now(),
    params      jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE queue_items (
    queue_id  bigint NOT NULL REFERENCES queues (id) ON DELETE CASCADE,
    post_id   text NOT NULL REFERENCES raw_posts (id),
    rank      integer NOT NULL,                  -- 1 = ask first
    score     real,
    reason    text,
    PRIMARY KEY (queue_id, post_id)
);
CREATE INDEX queue_items_rank ON queue_items (queue_id, rank);
