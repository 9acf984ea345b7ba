"""The production model inside Spark tasks (``bin/classify.sh`` and ``bin/stream.sh`` with
``--engine spark``).

A Keras model and its ``tf.function`` cannot be pickled to the executors, and loading one costs
seconds, so a task loads the run it is given once per Python worker and keeps it: the next task
on the same worker, for the same run, workspace and task file, reuses it. The run id is fixed
on the driver (the production run when the job starts), so every task of a job predicts with
the same model even if a promotion happens meanwhile.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from datasets.spark import WorkerContext
from datasets.store import db
from labeling.task import load_task
from models.production import ProductionModel, load_run


@dataclass(frozen=True, slots=True)
class ModelRef:
    """What a task needs to load the model: where the store and workspace are, the task file
    (with its hash, so a changed file is not served from an older cache entry) and the run."""

    context: WorkerContext
    task_path: str
    task_sha256: str
    run_id: int


def executor_model(ref: ModelRef) -> ProductionModel:
    """The model of ``ref``, loaded in this worker process on first use."""
    ref.context.enter()
    return _load(ref)


@lru_cache(maxsize=2)
def _load(ref: ModelRef) -> ProductionModel:
    return load_run(db.get_engine(), load_task(Path(ref.task_path)), ref.run_id)
