"""Golden evaluation: metrics, small-sample warnings, side-by-side models, runs table, CLI."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from models.evaluate import EvaluationResult, evaluate
from models.metrics import classification_metrics, wilson_interval
from models.train import TrainResult, train_model
from tests.support.results import check_json
from tests.support.world import add_golden, make_world

REPO = Path(__file__).resolve().parent.parent


def test_metrics_count_abstains_as_wrong_and_report_intervals():
    y_true = np.array([0, 0, 1, 1, 1])
    y_pred = np.array([0, 1, 1, 1, -1])
    m = classification_metrics(y_true, y_pred, ["ham", "spam"])
    assert m["accuracy"] == 3 / 5 and m["coverage"] == 4 / 5
    assert m["per_class"]["spam"]["recall"] == 2 / 3 and m["per_class"]["spam"]["precision"] == 2 / 3
    assert m["confusion"]["labels"] == ["ham", "spam", "abstain"]
    assert m["confusion"]["matrix"] == [[1, 1, 0], [0, 2, 1]]
    low, high = m["accuracy_ci95"]
    assert low < 0.6 < high and (low, high) == wilson_interval(3, 5)
    assert wilson_interval(90, 100)[1] - wilson_interval(90, 100)[0] < high - low  # more labels, tighter


def test_binary_auc_uses_positive_class():
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    m = classification_metrics(np.array([0, 1, 1, 0]), proba.argmax(1), ["ham", "spam"], proba=proba, positive="spam")
    assert m["roc_auc"] == 1.0 and m["pr_auc"] == 1.0


def test_evaluate_side_by_side_with_small_sample_warning(engine, tmp_path: Path):
    world = make_world(engine, tmp_path)
    test = world.truth[world.truth["split"] == "test"]
    add_golden(engine, world.task, test)
    trained = train_model(world.task.path, world.version, progress=False)
    result = evaluate(world.task.path, world.version)
    assert result.train_run == trained.run_id and result.n_test == len(test)
    assert set(result.models) == {"end_model", "label_model", "majority_vote", "best_lf"}
    assert result.models["best_lf"]["lf"] in ("kw_subscribe", "kw_love")
    assert result.models["majority_vote"]["coverage"] < 1.0
    end = result.models["end_model"]
    assert end["n"] == len(test) and 0.0 <= end["macro_f1"] <= 1.0 and "roc_auc" in end
    low, high = end["accuracy_ci95"]
    assert "Wilson interval" in result.warning and f"{low:.3f}" in result.warning
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT kind, parent_id, golden_test, metrics FROM runs WHERE id = :i"),
                           {"i": result.run_id}).one()
    assert (row.kind, row.parent_id, row.golden_test) == ("evaluate", trained.run_id, len(test))
    assert row.metrics["models"]["end_model"]["accuracy"] == end["accuracy"]
    card = json.loads((Path(trained.model_path) / "model_card.json").read_text())
    assert card["metrics"]["test"]["accuracy"] == end["accuracy"]


def test_train_and_evaluate_cli_json_and_no_labels_exit(engine, tmp_path: Path):
    world = make_world(engine, tmp_path)
    proc = subprocess.run([str(REPO / "bin/train.sh"), "--task", str(world.task.path), "--json", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    trained = json.loads(proc.stdout)
    check_json(trained, TrainResult, "train")
    proc = subprocess.run([str(REPO / "bin/evaluate.sh"), "--task", str(world.task.path), "--json"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr  # partial: nothing to evaluate against
    out = json.loads(proc.stdout)
    check_json(out, EvaluationResult, "evaluate")
    assert out["train_run"] == trained["run_id"]
    assert out["n_test"] == 0 and "no golden test labels" in out["warning"]
    assert subprocess.run([str(REPO / "bin/evaluate.sh"), "--help"], capture_output=True).returncode == 0
