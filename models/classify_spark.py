"""``bin/classify.sh --engine spark``: batch inference with the production model as Spark tasks.

:mod:`models.classify` chooses the posts, checks the options and writes the result; this engine
shares the work out, with the same predictions, links, output file and rejects as the default
engine. The driver fixes the run (the model ``models.classify`` loaded) and every task loads that
run once per Python worker (:func:`models.spark_model.executor_model`); only counts come back.

* ``--version``: Spark reads the version's parquet splits (the chosen one, or all four); each
  task takes its rows in batches of ``--batch-size``, drops the posts the run already predicted
  (one query per batch) and stores the others' predictions and links in one transaction per
  batch with :func:`models.classify.store_predictions`. A re-run classifies nothing.
* ``--since`` (posts that are in no parquet file): the driver cuts the posts still to classify
  into id ranges of about equal size; each task reads its range from PostgreSQL in batches
  exactly as the default engine reads the whole scope (``predictions.unpredicted_posts``).
* files: cut into parts as ``bin/ingest.sh --engine spark`` cuts them
  (:meth:`datasets.readers.Source.parts`, at most :data:`PART_BYTES` each); each task reads its
  part with :class:`models.classify.Inputs` (the default engine's records and rejects), writes
  one parquet part per batch under ``OUT.parts/`` named by part and batch number, so the driver
  joins them in file order, and skips the parts an interrupted run already wrote. Its rejects go
  to a file per part, appended to the rejects file in part order.
"""
from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy.engine import Engine

from datasets import ingest_spark, readers, records, spark, tables
from datasets.errors import GoldloopError
from datasets.ingest import RejectsFile
from datasets.split_files import split_path
from datasets.store import db, predictions, sql
from datasets.store.versions import SPLITS
from models.classify import (
    Inputs,
    _rows,
    chunks,
    output_columns,
    scope_counts,
    store_predictions,
)
from models.production import ProductionModel
from models.spark_model import ModelRef, executor_model

if TYPE_CHECKING:
    import pyarrow as pa

#: Bytes of JSON lines (or of parquet row groups) per task, as for ingestion.
PART_BYTES = ingest_spark.PART_BYTES
#: Id ranges per core for ``--since``: several, so a slow range does not hold the others up.
RANGES_PER_CORE = 4
_STORED_COLUMNS = ("id", "text", "created_at", "urls", "media_urls")


class _Stored(NamedTuple):
    """A stored post as :func:`models.classify.store_predictions` takes it."""

    id: str
    text: str
    created_at: Any
    urls: list[str] | None
    media_urls: list[str] | None


@dataclass(frozen=True, slots=True)
class _StoreJob:
    """What a stored-posts task needs: the model, the store's query arguments, the batch size."""

    model: ModelRef
    scope: dict[str, Any]
    batch_size: int


@dataclass(frozen=True, slots=True)
class _FilesJob:
    """What a files task needs besides its part."""

    model: ModelRef
    batch_size: int
    columns: records.Columns
    out_columns: tuple[str, ...]
    parts_dir: str
    rejects_dir: str


def model_ref(model: ProductionModel) -> ModelRef:
    """How the tasks load ``model``: the driver's store and workspace, the task file, the run."""
    return ModelRef(spark.WorkerContext.of_driver(), str(Path(model.task.path).resolve()), model.task.sha256,
                    model.run_id)


def classify_store(master: str, engine: Engine, model: ProductionModel, scope: dict[str, Any], batch_size: int,
                   progress: bool) -> tuple[int, int]:
    """Classify the stored posts of ``scope`` (:func:`models.classify.store_scope`) the run has
    not predicted; returns (classified, skipped: already predicted by the run)."""
    job = _StoreJob(model_ref(model), scope, batch_size)
    if scope["version"] is not None:
        paths = [split_path(scope["version"], s) for s in ([scope["split"]] if scope["split"] else SPLITS)]
        for path in paths:
            if not path.exists():
                raise GoldloopError(f"{path}: the parquet split of data-set version {scope['version']} is missing "
                                    "(--engine spark reads the version's splits)")
        with spark.session(master, "goldloop classify") as session, \
                spark.progress(session, "classify", "task", progress):
            frame = session.read.parquet(*map(str, paths)).select(*_STORED_COLUMNS)
            totals = spark.collect(frame.mapInArrow(partial(_store_rows, job), "classified long, skipped long").rdd)
        return sum(t.classified for t in totals), sum(t.skipped for t in totals)
    todo, done_before = scope_counts(engine, scope)
    if todo == 0:
        return 0, done_before
    with spark.session(master, "goldloop classify") as session:
        cores = session.sparkContext.defaultParallelism
        with engine.connect() as conn:
            cuts = predictions.unpredicted_bounds(conn, **scope, parts=min(math.ceil(todo / batch_size),
                                                                            RANGES_PER_CORE * cores))
        ranges = list(zip(["", *cuts], [*cuts, None]))
        with spark.progress(session, "classify", "task", progress):
            classified = spark.collect(session.sparkContext.parallelize(ranges, len(ranges))
                                       .map(partial(_store_range, job)))
    return sum(classified), done_before


def _store_rows(job: _StoreJob, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A ``--version`` task: its rows of the splits in batches, each one transaction."""
    import pyarrow as pa

    job.model.context.enter()
    engine, model = db.get_engine(), None
    classified = skipped = 0
    posts = (_Stored(**row) for batch in batches for row in batch.to_pylist())
    for chunk in chunks(posts, job.batch_size):
        with sql.transaction(engine) as conn:
            done = predictions.predicted_ids(conn, task=job.scope["task"], source=job.scope["source"],
                                             run_ref=job.scope["run_ref"], ids=[p.id for p in chunk])
            todo = [p for p in chunk if p.id not in done]
            if todo:
                model = model or executor_model(job.model)
                classified += store_predictions(conn, model, todo)
        skipped += len(done)
    yield pa.RecordBatch.from_pydict({"classified": [classified], "skipped": [skipped]})


def _store_range(job: _StoreJob, bounds: tuple[str, str | None]) -> int:
    """A ``--since`` task: the posts of one id range still to classify, batch by batch as
    :func:`models.classify.classify_store` reads the whole scope; returns how many it classified."""
    after, upto = bounds
    model = executor_model(job.model)
    engine = db.get_engine()
    classified = 0
    while True:
        with sql.transaction(engine) as conn:
            rows = predictions.unpredicted_posts(conn, **job.scope, after=after, limit=job.batch_size, upto=upto)
            if not rows:
                return classified
            classified += store_predictions(conn, model, rows)
        after = rows[-1].id


def classify_files(master: str, model: ProductionModel, inputs: Inputs, parts: Path, batch_size: int,
                   progress: bool) -> tuple[int, int, int]:
    """Write the parts of the posts of ``inputs`` into ``parts`` (``OUT.parts/``) and their
    rejects into ``inputs.rejects``; returns (classified, skipped: parts already written, rejected)."""
    rejects = inputs.rejects
    rejects_dir = rejects.path.with_name(rejects.path.name + ".parts")
    shutil.rmtree(rejects_dir, ignore_errors=True)  # left by a run that was killed
    job = _FilesJob(model_ref(model), batch_size, inputs.columns, tuple(output_columns(model)), str(parts),
                    str(rejects_dir))
    plan = [(source, part) for source in inputs.sources for part in source.parts(PART_BYTES)]
    with spark.session(master, "goldloop classify") as session:
        context = session.sparkContext
        try:
            with spark.progress(session, "classify", "part", progress):
                plan = ingest_spark.numbered_parts(context, plan)
                tasks = [(index, source, part) for index, (source, part) in enumerate(plan)]
                totals = spark.collect(context.parallelize(tasks, len(tasks)).map(partial(_classify_part, job)))
        finally:
            ingest_spark.merge_rejects(rejects, rejects_dir, len(plan))
    classified, skipped, rejected = (sum(column) for column in zip(*totals))
    return classified, skipped, rejected


def _classify_part(job: _FilesJob, task: tuple[int, readers.Source, readers.Part]) -> tuple[int, int, int]:
    """A files task: one part of one file, one output part per batch; (classified, skipped, rejected)."""
    index, source, part = task
    part_rejects = RejectsFile(Path(job.rejects_dir) / f"part-{index:06d}.jsonl")
    inputs = Inputs([source], job.columns, part_rejects)
    model = None
    classified = skipped = 0
    try:
        for n, chunk in enumerate(chunks(inputs.read(source, part), job.batch_size)):
            target = Path(job.parts_dir) / f"part-{index:06d}-{n:06d}.parquet"
            if target.exists():
                skipped += len(chunk)
                continue
            model = model or executor_model(job.model)
            tables.write(_rows(model, chunk), target, job.out_columns)
            classified += len(chunk)
    finally:
        part_rejects.close()
    return classified, skipped, inputs.rejected
