"""bin/label.sh end to end on a real PostgreSQL: LF votes, label model, scores, parquet, run records."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from datasets.errors import GoldloopError
from datasets.store import votes
from labeling.label import LabelResult, run_label
from labeling.task import TASKS_DIR, load_task
from labeling.weak_labels import weak_path
from tests.support.labeling import add_golden, demo_posts, make_version
from tests.support.results import check_json

REPO = Path(__file__).resolve().parent.parent
TASK = TASKS_DIR / "ai_tweets.toml"


@pytest.fixture()
def labeled_version(engine, tmp_path: Path) -> tuple[int, dict[str, str], list[str], list[str]]:
    posts, gold = demo_posts(40)  # 240 posts
    ids = [p["id"] for p in posts]
    test_ids, dev_ids = ids[:48], ids[48:96]
    version = make_version(engine, tmp_path, posts, test_ids=test_ids, dev_ids=dev_ids, lf=60)
    add_golden(engine, "ai_tweets", {i: gold[i] for i in test_ids + dev_ids})
    return version, gold, test_ids, dev_ids


def test_run_label_scores_exports_and_records(engine, labeled_version) -> None:
    version, gold, test_ids, dev_ids = labeled_version
    result = run_label(TASK, None, seed=3, progress=False)
    assert result.version == version and result.counts == {"test": 48, "dev": 48, "lf": 60, "train": 84}
    assert result.golden["test"] == 48 and result.golden["dev"] == 48
    for model in ("label_model", "majority_vote"):
        for split in ("dev", "test"):
            metrics = getattr(result, model)[split]
            assert metrics["n"] == 48 and 0.9 <= metrics["accuracy"] <= 1 and 0.9 <= metrics["macro_f1"] <= 1
    summary = {row["name"]: row for row in result.lf_summary}
    assert list(summary) == load_task(TASK).lf_names
    assert summary["kw_lookalike_traps"]["polarity"] == ["not_ai"] and summary["kw_lookalike_traps"]["coverage"] > 0
    assert summary["hashtag_ai"]["correct"] > 0 and summary["hashtag_ai"]["emp_acc"] == 1.0
    assert not summary["hashtag_ai"]["hurts"] and summary["hashtag_ai"]["precision"] == 1.0
    # golden dev labels (the only non-test ones) judge the LFs and the weak-target combiners
    assert result.lf_golden == {"dev": 48, "lf": 0, "train": 0}
    weak = result.weak_targets
    assert weak["n_golden"] == 48 and weak["folds"] == 5 and set(weak["cv_macro_f1"]) == {
        "label_model", "majority_vote", "supervised"}
    assert weak["cv_macro_f1"]["label_model"] == 1.0  # the demo LFs are near perfect: a tie keeps the label model
    assert weak["choice"] == "label_model" and "preferred on ties" in weak["reason"]
    assert result.label_model_fallback is None  # 13 LFs: Snorkel's label model itself

    # train_weak.parquet: schema, one row per train post, probabilities summing to 1, covered flag
    train = pq.read_table(weak_path(version, "ai_tweets"))
    assert train.schema.names == ["id", "text", "prob_not_ai", "prob_ai", "label", "covered"]
    assert [str(t) for t in train.schema.types] == ["string", "string", "float", "float", "string", "bool"]
    frame = train.to_pandas()
    assert len(frame) == 84 and frame["covered"].all()
    assert np.allclose(frame["prob_not_ai"] + frame["prob_ai"], 1, atol=1e-5)
    agree = (frame["label"] == frame["id"].map(gold)).mean()
    assert agree > 0.9
    assert len(pq.read_table(weak_path(version, "ai_tweets", "lf"))) == 60
    assert result.outputs == {"train_weak": str(weak_path(version, "ai_tweets")),
                                 "lf_weak": str(weak_path(version, "ai_tweets", "lf"))}

    # Postgres: the run, every post's votes, label-model predictions for covered posts
    with engine.connect() as conn:
        run = conn.exec_driver_sql("SELECT task, task_hash, version, lf_names, label_names, summary, params"
                                   " FROM lf_runs WHERE id = %s", (result.run_id,)).one()
        n_predictions = conn.exec_driver_sql("SELECT count(*) FROM predictions WHERE task = 'ai_tweets'"
                                             " AND source = 'label_model' AND run_ref = %s",
                                             (str(result.run_id),)).scalar()
        lf_names, labels, ids, L = votes.run_votes(conn, result.run_id)
    assert run.task == "ai_tweets" and run.version == version and run.label_names == ["not_ai", "ai"]
    assert run.task_hash == result.task_hash and run.params["seed"] == 3
    assert run.summary["label_model"]["test"]["accuracy"] == result.label_model["test"]["accuracy"]
    assert lf_names == run.lf_names and len(ids) == 240 and L.shape == (240, len(lf_names)) and L.dtype == np.int8
    dev_votes = L[[ids.index(i) for i in dev_ids]]
    assert sum(r["correct"] + r["incorrect"] for r in summary.values()) == int((dev_votes >= 0).sum())  # no test votes
    assert n_predictions == 240  # every synthetic post is covered

    # a second run replaces the label-model predictions instead of piling them up
    again = run_label(TASK, version, seed=3, progress=False)
    assert again.run_id != result.run_id
    assert again.label_model == result.label_model  # seeded: same scores
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM predictions").scalar() == 240


def test_uncovered_rows_are_kept_and_marked(engine, tmp_path: Path) -> None:
    posts, _ = demo_posts(10)
    posts += [{"id": f"x{i}", "text": f"zzz qqq {i}"} for i in range(15)]  # no LF can vote on these
    version = make_version(engine, tmp_path, posts, lf=20)
    result = run_label(TASK, version, progress=False)
    frame = pd.read_parquet(weak_path(version, "ai_tweets"))
    lf_frame = pd.read_parquet(weak_path(version, "ai_tweets", "lf"))
    both = pd.concat([frame, lf_frame])
    marked = both.set_index("id")["covered"]
    assert len(both) == 75 and not marked[[f"x{i}" for i in range(15)]].any()
    assert marked.drop([f"x{i}" for i in range(15)]).all()
    assert result.label_model == {} and result.majority_vote == {}  # no golden labels: no scores
    assert result.weak_targets["choice"] == "label_model" and result.weak_targets["reason"].startswith(
        "only 0 golden labels")
    assert not any(row["hurts"] for row in result.lf_summary)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM predictions WHERE post_id LIKE %s", ("x%",)).scalar() == 0


def test_cli_json_and_errors(engine, labeled_version) -> None:
    version = labeled_version[0]
    done = subprocess.run([str(REPO / "bin/label.sh"), "--task", str(TASK), "--version", str(version), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    check_json(result, LabelResult, "label")
    assert result["version"] == version and result["label_model"]["test"]["n"] == 48
    human = subprocess.run([str(REPO / "bin/label.sh"), "--task", str(TASK), "--quiet"],
                           capture_output=True, text=True, timeout=600)
    assert human.returncode == 0 and "label model acc" in human.stdout and "kw_ai_fields" in human.stdout
    with pytest.raises(GoldloopError, match="version 99 does not exist"):
        run_label(TASK, 99, progress=False)
    with pytest.raises(GoldloopError, match="class_balance"):
        run_label(TASK, version, class_balance=[0.2, 0.2], progress=False)
