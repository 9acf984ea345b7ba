"""``bin/stream.sh --engine spark``: the drop directory as a Spark Structured Streaming source.

The query streams the *names* of the files dropped (the ``binaryFile`` source with only its
``path`` column selected, so Spark never reads their content; at most ``--max-files`` new files
per micro-batch). For each micro-batch, ``foreachBatch`` on the driver fixes the production run
(a promotion is picked up at the next micro-batch) and shares the files out among at most one
Spark task per core (a task's own cost, ~0.1-0.3 s with TensorFlow loaded in the Python worker,
is more than a small file's). For each file, the task reads it with the default engine's
reader and record mapping (:func:`datasets.ingest.read_source`: the same posts, and rejects
with file and line in ``DIR/rejected/``), then in ONE PostgreSQL transaction: inserts the posts (``ON CONFLICT (id) DO
NOTHING``, the file's own ``ingest_batches`` row, links recorded), classifies the posts it
inserted with the production model (:func:`models.spark_model.executor_model`, loaded once per
Python worker), stores their predictions and links, removes them from the task's inbox (the
default engine's queue, filled by the sql/019 trigger when any stream is registered) and records
the file as committed for (task, checkpoint, micro-batch). The file then moves to ``DIR/done/``.

Exactly once: Spark writes a micro-batch to its checkpoint's commit log only after foreachBatch
returned, so a driver killed mid-batch replays that batch id with the same files. A file whose
row exists is skipped (and moved, if the kill came between its commit and its move); one whose
transaction did not commit is done again from scratch. Only posts the transaction inserted are
classified, so even a new checkpoint (Spark sees every file again) classifies nothing twice.

Unlike the default engine, the Spark stream classifies the dropped files only, not posts that
other ingestions store (the default engine's inbox, ``bin/classify.sh`` does those), and has no
``--settle``: Spark's file source requires files to appear whole (written under a dot name or a
``.tmp``/``.part``/``.partial`` suffix, which are ignored, and renamed into place).
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from tqdm import tqdm

from datasets import readers, records, spark
from datasets.errors import GoldloopError
from datasets.ingest import Load, RejectsFile, read_source
from datasets.store import db, posts, registry, stream, stream_batches
from datasets.store.stream_batches import FileKey
from labeling.task import Task
from models.classify import store_predictions
from models.sources import DropDirectory, Pulled, being_written
from models.spark_model import ModelRef, executor_model

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

#: New files per micro-batch by default: enough tasks for a few executor cores.
MAX_FILES = 16
# Columns every CSV or parquet file must have (JSON may hold Twitter objects), as for bin/ingest.sh.
_COLUMNS = records.Columns(id="id", text="text", time="created_at", author="author", time_format=None)
_BINARY_FILE = "path string, modificationTime timestamp, length long, content binary"


@dataclass(frozen=True, slots=True)
class _Job:
    """What each file's task of one micro-batch needs."""

    model: ModelRef
    task: str
    checkpoint: str
    batch_id: int
    drop_dir: str


class _FileBatch(posts.IngestBatch):
    """The ``ingest_batches`` row of one dropped file, whose rows are written in the caller's
    transaction together with their predictions instead of a transaction per batch.

    :class:`datasets.ingest.Load` hands it the file's staged rows (one batch: ``Load`` is given
    no size limit, so the first-wins order of duplicate ids within the file holds as in one
    ingest batch); :meth:`store` loads them on the batch's connection.
    """

    def __init__(self, engine: Engine, path: Path):
        super().__init__(engine, [str(path)], {"format": "auto", "engine": "spark stream"})
        self.rows: list[posts.Staged] = []
        self.read = self.rejected = 0

    def write(self, rows: list[posts.Staged], read: int, rejected: int) -> tuple[int, int, list[posts.Refused]]:
        self.rows.extend(rows)
        self.read, self.rejected = self.read + read, self.rejected + rejected
        return 0, 0, []

    def store(self) -> tuple[Connection, int]:
        """Insert the rows in a transaction left open on the returned connection; returns it and
        the number of posts inserted (the caller adds its work, then commits)."""
        return self.write_open(self.rows, self.read, self.rejected)


def _file_task(job: _Job, name: str) -> tuple[Pulled, int]:
    """One Spark task: ingest, classify and commit the dropped file ``name`` (see the module
    docstring); returns what it did and how many posts it classified."""
    job.model.context.enter()
    engine = db.get_engine()
    drop = DropDirectory(Path(job.drop_dir), settle_s=0)
    path, key = drop.path / name, FileKey(job.task, job.checkpoint, job.batch_id, name)
    with engine.connect() as conn:
        if stream_batches.committed(conn, key):  # a replayed micro-batch: counted when it committed
            drop.done(path)
            return Pulled(), 0
    try:
        source = readers.open_source(path, "auto", "utf-8", (_COLUMNS.id, _COLUMNS.text))
    except GoldloopError as exc:
        return drop.failed(path, exc), 0
    rejects_path = drop.rejects_of(path)
    rejects_path.unlink(missing_ok=True)  # a replay reads every record again: the rejects are its own
    rejects = RejectsFile(rejects_path)
    writer = _FileBatch(engine, path)
    status = "failed"
    try:
        load = Load(writer, rejects, sys.maxsize, tqdm(disable=True))
        with load.running():
            read_source(source, load, _COLUMNS, "auto")
        model = executor_model(job.model)
        conn, inserted = writer.store()
        fresh = stream_batches.inserted_posts(conn, writer.batch_id)
        classified = store_predictions(conn, model, fresh)
        stream.forget(conn, job.task, [row.id for row in fresh])
        stream_batches.commit(conn, key, run_id=job.model.run_id, ingest_batch=writer.batch_id, inserted=inserted,
                              rejected=writer.rejected)
        conn.commit()
        status = "done"
    # A value the record checks missed: the default engine isolates the refused rows, here the
    # file (one transaction) fails whole, else every replay would stop on it again.
    except (psycopg2.DataError, sa.exc.DataError) as exc:
        error = getattr(exc, "orig", exc)
        return drop.failed(path, GoldloopError(f"{path}: refused by PostgreSQL: {error}".strip())), 0
    finally:
        writer.finish(status)
        rejects.close()
    drop.done(path)
    return Pulled(files=1, inserted=inserted, rejected=writer.rejected), classified


def _local_path(uri: str) -> Path:
    """A path of the file source (``file:/dir/a%20b.jsonl``) as a local path."""
    return Path(unquote(urlparse(uri).path))


class SparkStream:
    """The stream of one task on Spark: what it has done so far, and the flag that stops it
    (the same attributes as :class:`models.stream.Worker`, so ``main`` reports either)."""

    def __init__(self, master: str, engine: Engine, task: Task, drop_dir: Path, checkpoint: Path, max_files: int):
        self.master, self.engine, self.task, self.max_files = master, engine, task, max_files
        self.drop_dir, self.checkpoint = drop_dir.resolve(), checkpoint.resolve()
        DropDirectory(self.drop_dir)  # checks it and creates done/, rejected/, failed/
        self.runs: list[int] = [self._production_run()]  # no production model: an error before Spark starts
        self.classified = 0
        self.pulled = Pulled()
        self.stopping = False
        self._context = spark.WorkerContext.of_driver()
        self._in_batch = threading.Event()
        self._error: BaseException | None = None
        self._bar: tqdm | None = None

    def _production_run(self) -> int:
        with self.engine.connect() as conn:
            event = registry.latest_event(conn, self.task.name)
        if event is None:
            raise GoldloopError(f"no production model for task {self.task.name}: "
                                "promote a trained run with bin/model.sh promote RUN")
        return event.run_id

    def batch(self, frame: DataFrame, batch_id: int) -> None:
        """``foreachBatch``: the micro-batch's files, shared among the cores' tasks, with the
        production run of this moment; an error is kept for :meth:`run` to raise as itself."""
        self._in_batch.set()
        try:
            names = sorted({path.name for path in map(_local_path, (row.path for row in frame.select("path").collect()))
                            if path.parent == self.drop_dir and not being_written(path.name) and path.exists()})
            if not names:
                return
            run_id = self._production_run()
            if run_id not in self.runs:
                self.runs.append(run_id)
            job = _Job(ModelRef(self._context, str(self.task.path), self.task.sha256, run_id), self.task.name,
                       str(self.checkpoint), batch_id, str(self.drop_dir))
            context = frame.sparkSession.sparkContext
            tasks = min(len(names), context.defaultParallelism)  # a task costs ~0.1-0.3 s; a small file less
            for pulled, classified in spark.collect(context.parallelize(names, tasks).map(partial(_file_task, job))):
                self.pulled += pulled
                self.classified += classified
                if self._bar is not None:
                    self._bar.update(classified)
        except BaseException as exc:
            self._error = exc
            raise
        finally:
            self._in_batch.clear()

    def run(self, *, poll_s: float, once: bool, bar: tqdm) -> None:
        """Run the query until :attr:`stopping` is set (after the micro-batch in hand) or, with
        ``once``, until the files present at the start are done (``availableNow``)."""
        self._bar = bar
        with spark.session(self.master, f"goldloop stream {self.task.name}") as session:
            files = (session.readStream.format("binaryFile").schema(_BINARY_FILE)
                     .option("maxFilesPerTrigger", self.max_files).option("ignoreMissingFiles", "true")
                     .load(str(self.drop_dir)).select("path"))
            writer = files.writeStream.foreachBatch(self.batch).option("checkpointLocation", str(self.checkpoint))
            writer = writer.trigger(availableNow=True) if once else writer.trigger(processingTime=f"{poll_s} seconds")
            query = writer.start()
            try:
                while not self._terminated(query):
                    if self.stopping:
                        while self._in_batch.is_set():  # what the batch in hand commits, it commits whole
                            time.sleep(0.05)
                        break
            finally:
                query.stop()
        if self._error is not None:
            raise self._error

    def _terminated(self, query: Any) -> bool:
        try:
            return query.awaitTermination(0.25)
        except Exception as exc:  # StreamingQueryException: foreachBatch's own error is raised by run()
            if self._error is not None:
                return True
            raise GoldloopError(f"the Spark stream of task {self.task.name} failed: {exc}") from exc
