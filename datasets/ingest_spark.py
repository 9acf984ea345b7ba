"""Ingestion on Apache Spark (``bin/ingest.sh --engine spark``): the same load, by parallel tasks.

The input files are cut into parts (:meth:`datasets.readers.Source.parts`): uncompressed JSON
lines at line starts every :data:`PART_BYTES`, parquet by row groups; a gzip file, a CSV file
(a quoted record may span lines) and a JSON array are one part each. A first Spark job counts
the lines of the byte parts, so each part knows the line number it starts at; the second job
gives each part to one task, which reads it with the default engine's reader and record mapping
(``datasets.ingest.read_source``: the same posts, the same rejects with file and line) and loads
it in batches of ``--batch-size`` into the run's ``ingest_batches`` row on its own connection,
each batch one transaction with the same ``ON CONFLICT (id) DO NOTHING`` and URL bookkeeping
(:class:`datasets.store.posts.IngestBatch`). A re-run therefore inserts nothing.

Only counts come back to the driver. Each task writes its rejects to a part file next to the
rejects file; the driver concatenates them in file and part order once the job is over (also
after a failure: whole batches stay committed, and so do their rejects).

Where two parts hold the same id, the copy whose batch commits first is stored: the counts are
the same as the default engine's, but which copy wins is not fixed (the default engine keeps the
first in file order).
"""
from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from datasets import readers, records, spark
from datasets.ingest import Load, LoadTotals, RejectsFile, read_source
from datasets.store import db, posts

#: Bytes of JSON lines (or of parquet row groups) per Spark task.
PART_BYTES = 32 << 20


@dataclass(frozen=True, slots=True)
class _Job:
    """What every part's task needs besides its part."""

    context: spark.WorkerContext
    batch_id: int
    batch_size: int
    columns: records.Columns
    kind: str
    rejects_dir: str


def load(master: str, sources: Sequence[readers.Source], batch_id: int, rejects: RejectsFile, batch_size: int,
         columns: records.Columns, kind: str, progress: bool, part_bytes: int = PART_BYTES) -> LoadTotals:
    """Load ``sources`` into ingest batch ``batch_id`` with Spark tasks on ``master``; rejects
    end up in ``rejects``; returns the totals of all parts."""
    rejects_dir = rejects.path.with_name(rejects.path.name + ".parts")
    job = _Job(spark.WorkerContext.of_driver(), batch_id, batch_size, columns, kind, str(rejects_dir))
    plan = [(source, part) for source in sources for part in source.parts(part_bytes)]
    with spark.session(master, "goldloop ingest") as session:
        context = session.sparkContext
        try:
            with spark.progress(session, "ingest", "part", progress):
                plan = numbered_parts(context, plan)
                tasks = [(index, source, part) for index, (source, part) in enumerate(plan)]
                totals = spark.collect(context.parallelize(tasks, len(tasks)).map(partial(_load_part, job)))
        finally:
            merge_rejects(rejects, rejects_dir, len(plan))
    return sum(totals, LoadTotals())


def numbered_parts(context, plan: list[tuple[readers.Source, readers.Part]]) -> list[tuple[readers.Source, readers.Part]]:
    """``plan`` with the first line number of every part of a byte-split file (counted by Spark tasks)."""
    split = [k for k, (source, _) in enumerate(plan) if source.splittable() and
             sum(1 for other, _ in plan if other is source) > 1]
    if not split:
        return plan
    items = [plan[k] for k in split]
    counts = spark.collect(context.parallelize(items, len(items)).map(_count_lines))
    numbered = readers.number_parts([part for _, part in items], counts)
    plan = list(plan)
    for k, part in zip(split, numbered):
        plan[k] = (plan[k][0], part)
    return plan


def _count_lines(item: tuple[readers.Source, readers.Part]) -> int:
    source, part = item
    return source.count_lines(part)


def _load_part(job: _Job, task: tuple[int, readers.Source, readers.Part]) -> LoadTotals:
    """One Spark task: read one part and load it in batches into the run's ingest batch."""
    index, source, part = task
    job.context.enter()
    writer = posts.IngestBatch.attach(db.get_engine(), job.batch_id)
    part_rejects = RejectsFile(Path(job.rejects_dir) / f"part-{index:06d}.jsonl")
    load = Load(writer, part_rejects, job.batch_size, tqdm(disable=True))
    try:
        with load.running():
            read_source(source, load, job.columns, job.kind, part)
    finally:
        writer.close()
        part_rejects.close()
    return load.result()


def merge_rejects(rejects: RejectsFile, rejects_dir: Path, parts: int) -> None:
    """Append the parts' rejects to the rejects file in part order, then remove them."""
    for index in range(parts):
        path = rejects_dir / f"part-{index:06d}.jsonl"
        if path.exists():
            rejects.extend(path)
    shutil.rmtree(rejects_dir, ignore_errors=True)
