-- The tagger's hot statements are prepared once per connection and run with index access forced
-- (tagger_app/prepared.py: SET LOCAL enable_seqscan = off), so that the plan PostgreSQL caches for
-- them stays right however young the tables' statistics are: on a table the statistics call empty
-- (human_labels, tagger_leases at the start of a task) every probe looks free and a cached plan
-- could keep a sequential scan per candidate item for good. With index access forced, ties between
-- indexes that look equally cheap on an empty table must not be able to pick a wrong one (PostgreSQL
-- checks a non-leading index column as an index condition too, walking the whole index): the
-- per-annotator index becomes partial, for the undo look-up it serves ("my latest label or skip"),
-- so the open check on "answers (label, skip, resolve) on (task, post_id)" can only use
-- (task, post_id, annotator, created_at).
DROP INDEX human_labels_task_annotator_id;
CREATE INDEX human_labels_annotator_latest ON human_labels (task, annotator, id) WHERE action IN ('label', 'skip');
