"""The synthetic world the loop's tests share is consistent with itself."""
from __future__ import annotations

import numpy as np
import pandas as pd

from datasets import workspace
from tests.support.world import make_world


def test_world_is_consistent(engine, tmp_path):
    world = make_world(engine, tmp_path)
    assert set(world.truth["split"]) == {"test", "lf", "train"}
    weak = pd.read_parquet(workspace.version_dir(world.version) / "spamtest" / "train_weak.parquet")
    assert weak["covered"].mean() > 0.5
    assert np.allclose(weak["prob_ham"] + weak["prob_spam"], 1)
