-- The URL store and the stream's inbox.
--
-- urls: one row per normalised expanded link (datasets/urls.py says how a link is normalised);
-- post_urls: which post carries which link, once per (post, link), so a post re-ingested or
-- re-classified never counts twice. urls.n_posts, first_seen and last_seen are maintained in the
-- same statement that inserts the post_urls rows (only rows new to post_urls count), so they
-- always equal what post_urls holds. Counts per predicted label are not stored: they are read by
-- joining post_urls with predictions, which holds one prediction per (task, source, post), so a
-- count per label is exactly-once by construction whatever re-classifies a post.
CREATE TABLE urls (
    url         text PRIMARY KEY,                -- normalised expanded URL
    domain      text NOT NULL,                   -- host, lower case, without "www."
    is_media    boolean NOT NULL,                -- a post's attached media (photo, video), not a link
    first_seen  timestamptz NOT NULL,            -- earliest post time (ingestion time when the post has none)
    last_seen   timestamptz NOT NULL,
    n_posts     integer NOT NULL CHECK (n_posts >= 0)
);
CREATE INDEX urls_domain ON urls (domain);
CREATE INDEX urls_last_seen ON urls (last_seen);
CREATE INDEX urls_n_posts ON urls (n_posts DESC, url);

CREATE TABLE post_urls (
    post_id  text NOT NULL REFERENCES raw_posts (id) ON DELETE CASCADE,
    url      text NOT NULL REFERENCES urls (url),
    PRIMARY KEY (post_id, url)
);
CREATE INDEX post_urls_url ON post_urls (url, post_id);

-- Streams: the tasks whose new posts bin/stream.sh classifies. While a task is registered here,
-- every post inserted into raw_posts, by any ingestion, gets a row in stream_inbox, added by the
-- statement-level trigger below in the inserting transaction, so a row exists exactly when its
-- post committed (a "seq > checkpoint" scan could skip a post whose transaction commits late).
-- The worker takes rows with FOR UPDATE SKIP LOCKED and deletes them in the transaction that
-- stores their predictions: the inbox is the checkpoint, and a killed worker's rows come back.
-- With no registered stream nothing is queued, so the inbox cannot grow when no stream is used;
-- `bin/stream.sh --unregister` stops queueing (and drops the task's queue) for good.
CREATE TABLE streams (
    task           text PRIMARY KEY,
    registered_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE stream_inbox (
    seq       bigserial PRIMARY KEY,
    task      text NOT NULL REFERENCES streams (task) ON DELETE CASCADE,
    post_id   text NOT NULL REFERENCES raw_posts (id) ON DELETE CASCADE,
    added_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX stream_inbox_task ON stream_inbox (task, seq);

-- One notification per inserting transaction (PostgreSQL folds identical notifications of a
-- transaction into one) wakes the workers; they also poll, should a notification be missed.
CREATE FUNCTION stream_inbox_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM streams) THEN
        INSERT INTO stream_inbox (task, post_id) SELECT s.task, n.id FROM new_rows n CROSS JOIN streams s;
        PERFORM pg_notify('goldloop_stream', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER raw_posts_stream_inbox AFTER INSERT ON raw_posts
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stream_inbox_add();
