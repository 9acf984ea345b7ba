-- Web tagger: item leases in the database, so several server processes (and a restarted server)
-- never hand one item to two annotators at once. One row per item ever leased; a lease is in
-- force while expires_at is in the future. tagger_claim() takes them atomically, item by item.
-- UNLOGGED: taking a lease writes no WAL, so it costs no disk flush; a database crash empties the
-- table, which can at worst show an item twice (never lose a label).

CREATE UNLOGGED TABLE tagger_leases (
    task        text NOT NULL,
    post_id     text NOT NULL,
    annotator   text NOT NULL,
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (task, post_id)
);

-- Lease to p_annotator the first p_n of p_candidates (in order) that nobody else holds; returns
-- them. Each claim is an INSERT ... ON CONFLICT, so two concurrent claims of one item cannot both win.
CREATE FUNCTION tagger_claim(p_task text, p_annotator text, p_candidates text[], p_n integer, p_ttl interval)
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    claimed text[] := '{}';
    candidate text;
    got text;
BEGIN
    FOREACH candidate IN ARRAY coalesce(p_candidates, '{}') LOOP
        EXIT WHEN cardinality(claimed) >= p_n;
        INSERT INTO tagger_leases AS l (task, post_id, annotator, expires_at)
        VALUES (p_task, candidate, p_annotator, clock_timestamp() + p_ttl)
        ON CONFLICT (task, post_id) DO UPDATE SET annotator = EXCLUDED.annotator, expires_at = EXCLUDED.expires_at
            WHERE l.annotator = EXCLUDED.annotator OR l.expires_at <= clock_timestamp()
        RETURNING l.post_id INTO got;
        IF got IS NOT NULL THEN
            claimed := claimed || got;
        END IF;
    END LOOP;
    RETURN claimed;
END $$;

-- An answer releases the annotator's lease on the item in the same transaction (no extra round
-- trip). The lease lingers 5 seconds: a queue query whose snapshot predates the commit cannot see
-- the answer, so it must still find the item leased.
CREATE FUNCTION tagger_release_answered() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tagger_leases SET expires_at = least(expires_at, clock_timestamp() + interval '5 seconds')
    WHERE task = NEW.task AND post_id = NEW.post_id AND annotator = NEW.annotator;
    RETURN NULL;
END $$;
CREATE TRIGGER human_labels_release_lease AFTER INSERT ON human_labels
    FOR EACH ROW WHEN (NEW.action IN ('label', 'skip', 'resolve')) EXECUTE FUNCTION tagger_release_answered();
