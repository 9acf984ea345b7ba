"""A task with trained runs to promote: the loop's synthetic world, trained on few or many golden labels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from datasets.store import runs
from models.classifier import TextClassifier
from models.params import TrainParams
from models.train import run_dir, train_model
from tests.support.world import World, add_golden, make_world

# No model selection, few tokens: a tiny linear model that trains in well under a second.
FAST_TRAIN = {"select": False, "architecture": "tfidf"}


@dataclass
class Trained:
    world: World
    runs: list[int]


def train_runs(engine: sa.engine.Engine, tmp_path: Path, n: int = 2) -> Trained:
    """The world with golden test labels and ``n`` trained runs of its task."""
    world = make_world(engine, tmp_path)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "test"])
    runs = [train_model(world.task.path, world.version, engine=engine, progress=False, **FAST_TRAIN).run_id
            for _ in range(n)]
    return Trained(world, runs)


def worse_run(engine: sa.engine.Engine, trained: Trained) -> int:
    """A train run of the world's task whose model learned the labels backwards (macro-F1 near 0)."""
    world = trained.world
    flipped = world.truth["label"].map({"ham": 1, "spam": 0}).to_numpy()
    clf = TextClassifier(world.task.labels, TrainParams(architecture="tfidf")).fit(world.truth["text"].tolist(), flipped)
    with engine.begin() as conn:
        run_id = runs.record(conn, task=world.task.name, task_hash=world.task.sha256, version=world.version,
                             kind="train", params={"architecture": "tfidf"}, metrics={})
        path = run_dir(world.task, run_id)
        clf.save(path)
        runs.set_model_path(conn, run_id, str(path))
    return run_id
