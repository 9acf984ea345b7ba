"""The simulated annotator: curves per strategy, outputs, and no pollution of real labels."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from datasets.errors import GoldloopError
from models.simulate import SimulationResult, read_gold
from tests.support.results import check_json
from tests.support.world import LF_TOML
from tests.support.world import add_golden, make_world

REPO = Path(__file__).resolve().parent.parent


def test_read_gold_names_the_bad_line(tmp_path: Path):
    from labeling.task import load_task
    task_path = tmp_path / "t.toml"
    task_path.write_text('name = "t"\nlabels = ["ham", "spam"]\n')
    gold = tmp_path / "gold.csv"
    gold.write_text("id,label\na,spam\nb,1\nc,eggs\n")
    with pytest.raises(GoldloopError, match=r"gold.csv line 4: label 'eggs'"):
        read_gold(gold, load_task(task_path))
    gold.write_text("id,label\na,spam\nb,0\n")
    assert read_gold(gold, load_task(task_path)).to_dict() == {"a": 1, "b": 0}


@pytest.mark.slow
def test_simulate_cli_curves_outputs_and_no_label_pollution(engine, home: Path, tmp_path: Path):
    # the encoder is tuned at 5 labels (a milestone), and those tuned encoders are removed at the end
    task_toml = LF_TOML.replace("[train]\n", "[train]\nfine_tune_min_golden = 5\nfine_tune_pairs_per_label = 2\n")
    world = make_world(engine, tmp_path, task_toml=task_toml)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "test"])
    gold = tmp_path / "gold.csv"
    world.truth[["id", "label"]].to_csv(gold, index=False)
    with engine.connect() as conn:
        labels_before = conn.execute(sa.text("SELECT count(*) FROM human_labels")).scalar()
    out = tmp_path / "sim"
    proc = subprocess.run([str(REPO / "bin/simulate.sh"), "--gold", str(gold), "--task", str(world.task.path),
                           "--strategies", "uncertainty,random", "--seeds", "1", "--budget", "10", "--batch", "5",
                           "--out", str(out), "--json"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    check_json(result, SimulationResult, "simulate")
    assert set(result["curves"]) == {"entropy", "random"}
    for points in result["curves"].values():
        assert [p["labels"] for p in points] == [0, 5, 10]
        assert all(0.0 <= p["accuracy"] <= 1.0 and 0.0 <= p["macro_f1"] <= 1.0 for p in points)
        assert all(p["macro_f1_std"] == 0.0 for p in points)  # one seed
    baselines = result["baselines"]
    assert [p["labels"] for p in baselines["golden_only"]] == [5, 10]  # nothing to train on at 0 labels
    test_labels = world.truth[world.truth["split"] == "test"]["label"]
    assert baselines["majority_class"]["accuracy"] == round(test_labels.value_counts(normalize=True).max(), 4)
    assert 0.0 <= baselines["label_model"]["macro_f1"] <= 1.0
    assert "simulating" in proc.stderr  # the progress bar shows on stderr even with --json
    assert result["n_test"] == int((world.truth["split"] == "test").sum())
    curves = pd.read_csv(out / "curves.csv")
    assert len(curves) == 8
    assert set(curves.columns) == {"strategy", "seed", "labels", "accuracy", "macro_f1", "model", "encoder"}
    tuned = {name for name in curves["encoder"].dropna() if name.startswith("tuned-")}
    assert tuned and sorted(result["pruned"]["removed"]) == sorted(tuned)
    assert not [p for p in (home / "encoders").iterdir() if p.name.startswith("tuned-")]
    assert not [p for p in (home / "embeddings").iterdir() if p.name.startswith("tuned-")]
    assert set(curves["strategy"]) == {"entropy", "random", "golden_only"}
    assert (out / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM human_labels")).scalar() == labels_before
        assert conn.execute(sa.text("SELECT count(*) FROM queues")).scalar() == 0
        assert conn.execute(sa.text("SELECT kind FROM runs WHERE id = :i"), {"i": result["run_id"]}).scalar() == "simulate"
