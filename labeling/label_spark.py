"""``bin/label.sh --engine spark``: the LFs and the weak targets computed by Spark tasks.

:func:`labeling.label.run_label` does everything that is not engine-specific (the cluster LFs'
fit on the LF split, the label model, the combiners, the report, the store transaction); this
engine does the two passes over the posts:

1. :meth:`SparkEngine.apply`: the version's four parquet splits are read by Spark, the task's
   compiled LFs (the fitted applier, broadcast) run per Arrow batch in a pandas UDF that gets
   only the columns the LFs read, and the votes (with the text of the train and LF posts) are
   written as parquet partitioned by split to a scratch directory of the workspace, the one
   copy both passes read. Only small results reach the driver: posts and
   covered posts per split, the votes of the golden posts, and the LF+train votes the label
   model is fitted on: all of them up to :data:`FIT_SAMPLE_ROWS`, a seeded random sample of that
   many beyond (the result says so).
2. :meth:`SparkEngine.write`: the chosen combiner (broadcast) turns each partition's votes into
   class probabilities; the weak labels of the train and LF splits are written as directories of
   parquet parts (same columns as the default engine's files; pandas and pyarrow read a
   directory like a file), and the votes and probabilities of every post as parquet parts the
   driver streams, one batch at a time, into the run's single store transaction.

The workspace must be a file system the driver and every executor share (docs/scale.md).
"""
from __future__ import annotations

import os
import pickle
import shutil
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from datasets import spark
from datasets.errors import GoldloopError
from datasets.split_files import split_path
from datasets.store.versions import SPLITS
from labeling import analysis, combiners
from labeling.applier import TaskApplier
from labeling.label import FIT_SPLITS, WEAK_SPLITS, AppliedVotes, RecordBatch, remove_outputs
from labeling.task import Task
from labeling.weak_labels import weak_path

#: LF+train rows the label model is fitted on at most (a seeded random sample beyond): about
#: 20 MB of votes for 20 LFs, so the driver's memory does not grow with the data set.
FIT_SAMPLE_ROWS = 1_000_000
_RECORD_BATCH_ROWS = 100_000


@contextmanager
def engine(master: str, applier: TaskApplier, version: int, golden: dict[str, int],
           progress: bool) -> Iterator[SparkEngine]:
    """A :class:`SparkEngine` on ``master``, its session and scratch files gone at the end."""
    with spark.session(master, "goldloop label") as session:
        labeler = SparkEngine(session, applier, version, golden, progress)
        try:
            yield labeler
        finally:
            labeler.close()


@dataclass(frozen=True, slots=True)
class _Job:
    """What the tasks need besides their rows: the broadcast applier or combiner, and the context."""

    context: spark.WorkerContext
    shared: Any
    labels: tuple[str, ...] = ()
    seed: int = 0


class SparkEngine:
    """The LF votes of one version on Spark, kept as parquet in a scratch directory of the
    workspace between the two passes (partitioned by split, so a pass reads only its splits)."""

    def __init__(self, session: Any, applier: TaskApplier, version: int, golden: dict[str, int], progress: bool):
        self.session, self.applier, self.version, self.golden = session, applier, version, golden
        self.progress = progress
        self.lfs = [f"lf_{j}" for j in range(len(applier.names))]
        self.context = spark.WorkerContext.of_driver()
        self.scratch = weak_path(version, applier.task.name).parent / f".spark-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.votes = None
        self._broadcasts: list[Any] = []

    def apply(self) -> AppliedVotes:
        """Apply the LFs to every split; return the counts, the golden rows and the fit rows."""
        from pyspark.sql import functions as F

        paths = [split_path(self.version, s) for s in SPLITS]
        for split, path in zip(SPLITS, paths):
            if not path.exists():
                raise GoldloopError(f"{path}: split {split!r} of data-set version {self.version} is missing")
        frame = self.session.read.parquet(*map(str, paths))
        read = self.applier.input_columns or tuple(frame.columns)
        job = _Job(self.context, self._broadcast(self.applier))
        votes = _udf(partial(_apply_lfs, job), ", ".join(f"{c} tinyint" for c in self.lfs))
        text = F.when(F.col("split").isin(*WEAK_SPLITS), F.col("text")).alias("text")
        applied = frame.select("id", "split", F.col("_metadata.row_index").alias("_row"), text,
                               votes(F.struct(*read)).alias("_votes")).select("id", "split", "_row", "text", "_votes.*")
        with spark.progress(self.session, "LFs", "task", self.progress):
            applied.write.partitionBy("split").parquet(str(self.scratch / "votes"))
            self.votes = self.session.read.parquet(str(self.scratch / "votes"))
            covered = (F.greatest(*map(F.col, self.lfs)) if len(self.lfs) > 1 else F.col(self.lfs[0])) >= 0
            stats = {row["split"]: row for row in self.votes.groupBy("split").agg(
                F.count("*").alias("n"), F.sum(covered.cast("long")).alias("covered")).collect()}
            counts = {s: int(stats[s]["n"]) if s in stats else 0 for s in SPLITS}
            fit_total = sum(counts[s] for s in FIT_SPLITS)
            return AppliedVotes(self._fit_rows(fit_total), fit_total, self._golden_rows(), counts,
                                {s: int(stats[s]["covered"]) if s in stats else 0 for s in SPLITS})

    def _fit_rows(self, fit_total: int) -> np.ndarray:
        """The LF+train votes in split and file order (the default engine's order), or a sample."""
        from pyspark.sql import functions as F

        rows = self.votes.filter(F.col("split").isin(*FIT_SPLITS))
        if fit_total > FIT_SAMPLE_ROWS:
            rows = rows.sample(False, FIT_SAMPLE_ROWS / fit_total, seed=0).limit(FIT_SAMPLE_ROWS)
        order = F.when(F.col("split") == FIT_SPLITS[0], 0).otherwise(1).alias("_split")
        frame = rows.select(order, "_row", *self.lfs).toPandas().sort_values(["_split", "_row"])
        return frame[self.lfs].to_numpy(dtype=np.int8)

    def _golden_rows(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per split, the votes and label indices of its golden posts, in file order."""
        from pyspark.sql import functions as F

        labels = self.session.createDataFrame(pd.DataFrame({"id": list(self.golden), "_y": list(self.golden.values())},
                                                           columns=["id", "_y"]).astype({"id": str, "_y": "int64"}),
                                              "id string, _y long")
        frame = self.votes.join(F.broadcast(labels), "id").select("split", "_row", "_y", *self.lfs).toPandas()
        frame = frame.sort_values(["split", "_row"])
        return {s: (part[self.lfs].to_numpy(dtype=np.int8), part["_y"].to_numpy(dtype=np.int64))
                for s, part in ((s, frame[frame["split"] == s]) for s in SPLITS)}

    def write(self, task: Task, predict: combiners.ProbaFn, seed: int) -> tuple[dict[str, Path], Iterator[RecordBatch]]:
        """Write the weak labels of ``WEAK_SPLITS`` (directories of parts, under temporary names);
        return those directories and the batches to record, read from the votes of the first pass."""
        from pyspark.sql import functions as F

        probs = [f"prob_{label}" for label in task.labels]
        job = _Job(self.context, self._broadcast(predict), tuple(task.labels), seed)
        score = _udf(partial(_score, job, self.lfs), ", ".join(f"`{p}` float" for p in probs) + ", label string")
        covered = ((F.greatest(*map(F.col, self.lfs)) if len(self.lfs) > 1 else F.col(self.lfs[0])) >= 0)
        tmp_paths: dict[str, Path] = {}
        try:
            with spark.progress(self.session, "weak labels", "task", self.progress):
                for split in WEAK_SPLITS:
                    target = weak_path(self.version, task.name, split)
                    tmp_paths[split] = target.with_name(f".{target.name}.tmp-{os.getpid()}")
                    (self.votes.filter(F.col("split") == split)
                     .select("id", "text", score(F.struct("id", *self.lfs)).alias("_score"), covered.alias("covered"))
                     .select("id", "text", *[f"_score.`{p}`" for p in probs], "_score.label", "covered")
                     .write.mode("overwrite").option("compression", "zstd").parquet(str(tmp_paths[split])))
        except BaseException:
            remove_outputs(tmp_paths)
            raise
        return tmp_paths, _record_batches(self.scratch / "votes", self.lfs, predict, len(task.labels))

    def _broadcast(self, value: Any) -> Any:
        """``value`` sent once to every executor; by cloudpickle, which also takes the combiners'
        closures (read back with :func:`_shared`)."""
        from pyspark import cloudpickle

        shared = self.session.sparkContext.broadcast(cloudpickle.dumps(value))
        self._broadcasts.append(shared)
        return shared

    def close(self) -> None:
        """Drop the broadcasts and the scratch files."""
        for shared in self._broadcasts:
            shared.destroy()
        shutil.rmtree(self.scratch, ignore_errors=True)


def _shared(job: _Job) -> Any:
    return pickle.loads(job.shared.value)


def _udf(function: Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]], fields: str) -> Any:
    """``function`` as an iterator pandas UDF taking one struct column and returning a struct of
    ``fields``: only the columns it reads go to Python, and only its results come back."""
    from pyspark.sql.functions import pandas_udf

    def batches(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:  # the hints make it an iterator UDF
        return function(frames)

    return pandas_udf(batches, f"struct<{fields}>")


def _apply_lfs(job: _Job, frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """The votes of each Arrow batch of the posts' columns the LFs read."""
    job.context.enter()
    applier: TaskApplier = _shared(job)
    for frame in frames:
        yield pd.DataFrame(applier.apply(frame), columns=[f"lf_{j}" for j in range(len(applier.names))])


def _score(job: _Job, lfs: list[str], frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Class probabilities and hard label of each batch of ids and votes."""
    job.context.enter()
    predict = _shared(job)
    k = len(job.labels)
    for frame in frames:
        probs = combiners.predict_all(predict, frame[lfs].to_numpy(dtype=np.int8), k)
        hard = analysis.hard_labels_keyed(probs, frame["id"].tolist(), job.seed)
        out = pd.DataFrame(probs.astype(np.float32), columns=[f"prob_{label}" for label in job.labels])
        out["label"] = np.array(job.labels, dtype=object)[hard] if len(frame) else pd.Series([], dtype=object)
        yield out


def _record_batches(votes: Path, lfs: list[str], predict: combiners.ProbaFn, k: int) -> Iterator[RecordBatch]:
    """Every post's id, votes and class probabilities, one batch of the first pass's parts at a
    time: the driver computes the probabilities as it records them (the store transaction is
    the driver's anyway), so no second Spark pass over all the posts is needed."""
    for part in sorted(votes.glob("split=*/part-*.parquet")):
        for batch in pq.ParquetFile(part).iter_batches(batch_size=_RECORD_BATCH_ROWS, columns=["id", *lfs]):
            L = np.column_stack([batch.column(c).to_numpy(zero_copy_only=False) for c in lfs]).astype(np.int8)
            yield batch.column("id").to_pylist(), L, combiners.predict_all(predict, L, k)
