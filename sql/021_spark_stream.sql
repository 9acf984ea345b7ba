-- The Spark engine of bin/stream.sh (models/stream_spark.py): which dropped files each
-- micro-batch of a Structured Streaming query has committed.
--
-- Spark's checkpoint records a micro-batch as done only after foreachBatch returned, so a driver
-- killed in between replays the same batch id with the same files. Each file is ingested,
-- classified and recorded here in one transaction; a replay finds the row and skips the file,
-- so its counts, rejects and predictions are never made twice. The checkpoint is part of the
-- key: a new checkpoint directory is a new query whose batch ids start again at 0.
CREATE TABLE spark_stream_files (
    task          text NOT NULL,
    checkpoint    text NOT NULL,                 -- absolute path of the query's checkpoint directory
    batch_id      bigint NOT NULL CHECK (batch_id >= 0),
    file          text NOT NULL,                 -- the dropped file's name in the drop directory
    run_id        integer NOT NULL,              -- the production run that classified its posts
    ingest_batch  bigint NOT NULL REFERENCES ingest_batches (id),
    inserted      integer NOT NULL CHECK (inserted >= 0),
    rejected      integer NOT NULL CHECK (rejected >= 0),
    committed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (task, checkpoint, batch_id, file)
);
