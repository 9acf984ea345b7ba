-- human_labels had (task, post_id) from 001 and (task, annotator, post_id) from 003. While the
-- table is young (planner statistics from when it was empty, every estimate one row), PostgreSQL
-- probed "answers on (task, post_id)", the tagger's per-candidate open check, through the second
-- one, skipping its middle column: a walk over the task's whole range, 0.3 ms per candidate row
-- and most of the cost of serving the next item. Now each lookup has one index whose leading
-- columns match it, and none offers a cheaper-looking wrong path whatever the statistics say:
--   (task, post_id, annotator, created_at)  open checks, golden labels of an item, and
--                                           "my current label on this item" (annotator_labels)
--   (task, annotator, id)                   "my latest answer" (undo) and per-annotator reports;
--                                           in id order, so it cannot pass for the view's
--                                           created_at order
DROP INDEX human_labels_task_annotator;
DROP INDEX human_labels_task_post;
CREATE INDEX human_labels_task_post_annotator ON human_labels (task, post_id, annotator, created_at);
CREATE INDEX human_labels_task_annotator_id ON human_labels (task, annotator, id);
