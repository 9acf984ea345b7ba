"""A task with trained runs to promote: the loop's synthetic world, trained on few or many golden labels."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from models.train import train_model
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
