"""Weak-target combiners and "hurts" flags: unit checks on label matrices, then bin/label.sh on a real PostgreSQL.

The toy task has three keyword LFs on four kinds of post: "good" posts (pos; ``kw_good`` votes
pos), "great" posts (pos; ``kw_great`` is systematically inverted and votes neg), "bad" posts
(neg; ``kw_bad`` votes neg) and "meh" posts (neg; no LF votes). Majority vote and the label
model follow ``kw_great``'s wrong votes; only the supervised combiner can learn to invert them.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets.split_files import read_split
from datasets.store import votes
from labeling import analysis, combiners
from labeling.label import format_result, run_label
from labeling.task import load_task
from labeling.weak_labels import weak_path
from tests.support.labeling import add_golden, make_version

LABELS = ["neg", "pos"]
KINDS = {"good": ("what a good day, number {}", "pos"), "great": ("a great result, number {}", "pos"),
         "bad": ("such a bad day, number {}", "neg"), "meh": ("meh, nothing to say, number {}", "neg")}
TOY_LFS = [("kw_good", "pos", "good"), ("kw_great", "neg", "great"), ("kw_bad", "neg", "bad")]  # kw_great: inverted
LF_NAMES = [name for name, _, _ in TOY_LFS]
TOY_TASK = 'name = "toy"\nlabels = ["neg", "pos"]\n' + "".join(
    f'\n[[lfs]]\nname = "{name}"\nkind = "keyword"\nlabel = "{label}"\nterms = ["{term}"]\n'
    for name, label, term in TOY_LFS)
PARAMS = {"seed": 0, "epochs": 500, "lr": 0.01, "l2": 0.0, "class_balance": None}


def toy_matrix(n_each: int) -> tuple[np.ndarray, np.ndarray]:
    """The toy task's label matrix L and golden y, ``n_each`` rows per kind of post."""
    kinds = np.repeat(np.arange(4), n_each)  # good, great, bad, meh
    L = np.full((len(kinds), 3), -1, dtype=np.int8)
    L[kinds == 0, 0] = 1
    L[kinds == 1, 1] = 0  # inverted: "great" posts are pos
    L[kinds == 2, 2] = 0
    return L, np.where(kinds < 2, 1, 0)


# --- unit checks on label matrices ------------------------------------------------------


def test_vote_features_one_hot_votes_and_uncovered_indicator() -> None:
    L = np.array([[1, -1], [-1, -1], [0, 1]])
    features = combiners.vote_features(L, 2)
    assert features.tolist() == [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 1, 0]]


def test_supervised_combiner_wins_when_an_lf_is_inverted() -> None:
    L, y = toy_matrix(15)
    model = analysis.fit_label_model(L, 2, PARAMS, progress=False)
    targets = combiners.choose_weak_targets(model, L, y, LABELS, seed=0)
    scores = targets.cv_macro_f1
    assert targets.choice == "supervised" and targets.folds == combiners.CV_FOLDS and targets.n_golden == 60
    assert scores["supervised"] == 1.0 and max(scores["label_model"], scores["majority_vote"]) < 0.8
    # refitted on all golden rows: "great" posts (only kw_great votes neg) come out pos, uncovered posts neg
    probs = targets.predict_proba(np.array([[-1, 0, -1], [-1, -1, -1]], dtype=np.int8))
    assert probs[0].argmax() == 1 and probs[1].argmax() == 0
    refit = combiners.supervised_combiner(2).fit(L, y).predict_proba(L)
    assert np.allclose(targets.predict_proba(L), refit)


def test_ties_keep_the_label_model() -> None:
    L, y = toy_matrix(15)
    L[y == 1, 1] = -1
    L[y == 1, 0] = 1  # every pos post voted pos by kw_good: all three combiners are perfect
    L[(y == 0) & ((L >= 0).sum(axis=1) == 0), 2] = 0
    model = analysis.fit_label_model(L, 2, PARAMS, progress=False)
    targets = combiners.choose_weak_targets(model, L, y, LABELS, seed=0)
    assert set(targets.cv_macro_f1.values()) == {1.0}
    assert targets.choice == "label_model" and "preferred on ties" in targets.reason
    assert np.allclose(targets.predict_proba(L), model.predict_proba(L.astype(np.int64)))


@pytest.mark.parametrize(("n_each", "pos_rows", "why"), [
    (5, slice(None), "only 20 golden labels"),
    (20, slice(0, 4), "too few golden labels per class (pos 4)")])
def test_too_few_golden_labels_keep_the_label_model(n_each: int, pos_rows: slice, why: str) -> None:
    L, y = toy_matrix(n_each)
    keep = np.concatenate([np.flatnonzero(y == 0), np.flatnonzero(y == 1)[pos_rows]])
    model = analysis.fit_label_model(L, 2, PARAMS, progress=False)
    targets = combiners.choose_weak_targets(model, L[keep], y[keep], LABELS, seed=0)
    assert targets.choice == "label_model" and targets.cv_macro_f1 == {} and targets.folds == 0
    assert targets.reason == f"{why} on dev/lf/train; need 30 and 5 per class to compare"


def test_lf_summary_flags_lfs_below_their_labels_prior() -> None:
    L, y = toy_matrix(10)
    both = np.where(np.arange(40) % 4 == 0, 1 - y, y)  # votes both labels, wrong on every 4th row: 75% precise
    L = np.column_stack([L, both])
    rows = {r["name"]: r for r in analysis.lf_summary(L, LF_NAMES + ["both"], ["keyword"] * 4, LABELS, L, y)}
    assert rows["kw_great"]["precision"] == 0.0 and rows["kw_great"]["prior"] == 0.5 and rows["kw_great"]["hurts"]
    assert rows["kw_good"]["precision"] == 1.0 and not rows["kw_good"]["hurts"]
    # an LF voting both labels is judged against the vote-weighted prior of what it votes
    assert rows["both"]["polarity"] == LABELS and rows["both"]["precision"] == 0.75
    assert rows["both"]["prior"] == 0.5 and not rows["both"]["hurts"]


def test_precision_above_one_half_can_still_hurt_a_frequent_label() -> None:
    y = np.r_[np.zeros(30, dtype=int), np.ones(10, dtype=int)]  # neg prior 0.75
    L = np.full((40, 1), -1)
    L[:21] = 0
    L[30:33] = 0  # 21 correct / 24 votes = 0.875
    row = analysis.lf_summary(L, ["kw_neg"], ["keyword"], LABELS, L, y)[0]
    assert (row["precision"], row["prior"], row["hurts"]) == (0.875, 0.75, False)
    L[30:] = 0  # 21 correct / 31 votes = 0.677: worse than always guessing neg
    row = analysis.lf_summary(L, ["kw_neg"], ["keyword"], LABELS, L, y)[0]
    assert (row["precision"], row["prior"], row["hurts"]) == (0.6774, 0.75, True)


def test_lf_summary_without_golden_rows_flags_nothing() -> None:
    L, _ = toy_matrix(5)
    rows = analysis.lf_summary(L, LF_NAMES, ["keyword"] * 3, LABELS)
    assert all(r["precision"] is None and r["prior"] is None and not r["hurts"] for r in rows)


# --- bin/label.sh end to end on a real PostgreSQL ----------------------------------------


def toy_posts(n_each: int) -> tuple[list[dict], dict[str, str]]:
    """Posts of the four kinds, interleaved, and their golden labels."""
    posts, gold = [], {}
    for i in range(n_each):
        for kind, (template, label) in KINDS.items():
            post_id = f"{kind}{i:03d}"
            posts.append({"id": post_id, "text": template.format(i)})
            gold[post_id] = label
    return posts, gold


@pytest.fixture()
def toy_task(tmp_path: Path) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(TOY_TASK)
    return path


def golden_votes(engine, run_id: int, gold: dict[str, str], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The run's stored votes and golden y of ``ids``."""
    with engine.connect() as conn:
        _, _, voted_ids, L = votes.run_votes(conn, run_id)
    rows = [voted_ids.index(i) for i in ids]
    return L[rows], np.array([LABELS.index(gold[i]) for i in ids])


def test_inverted_lf_supervised_weak_targets_end_to_end(engine, tmp_path: Path, toy_task: Path) -> None:
    posts, gold = toy_posts(30)  # 120 posts
    ids = [p["id"] for p in posts]
    test_ids, dev_ids = ids[:20], ids[20:40]
    version = make_version(engine, tmp_path, posts, test_ids=test_ids, dev_ids=dev_ids, lf=40)
    lf_ids = read_split(version, "lf")["id"].tolist()
    add_golden(engine, "toy", {i: gold[i] for i in dev_ids + lf_ids})
    flipped = {"neg": "pos", "pos": "neg"}
    add_golden(engine, "toy", {i: flipped[gold[i]] for i in test_ids})  # would make kw_great look right if used

    result = run_label(toy_task, version, progress=False)
    weak = result.weak_targets
    assert result.lf_golden == {"dev": 20, "lf": 40, "train": 0} and weak["n_golden"] == 60
    assert weak["choice"] == "supervised" and weak["folds"] == 5
    assert weak["cv_macro_f1"]["supervised"] > max(weak["cv_macro_f1"]["label_model"],
                                                    weak["cv_macro_f1"]["majority_vote"])

    # the weak targets are the supervised combiner fitted on all golden dev+LF rows
    L_gold, y_gold = golden_votes(engine, result.run_id, gold, dev_ids + lf_ids)
    train = pd.read_parquet(weak_path(version, "toy"))
    L_train, y_train = golden_votes(engine, result.run_id, gold, train["id"].tolist())
    expected = combiners.supervised_combiner(2).fit(L_gold, y_gold).predict_proba(L_train)
    assert np.allclose(train[["prob_neg", "prob_pos"]].to_numpy(), expected, atol=1e-6)
    assert (train["label"] == [LABELS[c] for c in y_train]).all()  # great posts come out pos
    assert train["covered"].tolist() == (L_train >= 0).any(axis=1).tolist()  # "meh" posts stay uncovered
    with engine.connect() as conn:
        stored = dict(conn.exec_driver_sql("SELECT post_id, probs FROM predictions WHERE task = 'toy'"
                                           " AND source = 'label_model'").all())
        run = conn.exec_driver_sql("SELECT summary, params FROM lf_runs WHERE id = %s", (result.run_id,)).one()
    great = train[train["id"].str.startswith("great")].iloc[0]
    assert stored[great["id"]]["pos"] == pytest.approx(great["prob_pos"], abs=1e-5) and great["prob_pos"] > 0.5
    assert run.summary["weak_targets"] == json.loads(json.dumps(weak))
    assert run.params["weak_targets"]["choice"] == "supervised"

    # kw_great hurts, judged on dev+LF golden labels only (the flipped test labels would make it 100% right)
    summary = {r["name"]: r for r in result.lf_summary}
    assert summary["kw_great"]["hurts"] and summary["kw_great"]["correct"] == 0
    n_great = sum(i.startswith("great") for i in dev_ids + lf_ids)
    neg_prior = round(float(np.mean(y_gold == 0)), 4)  # LF split drawn at random: not exactly 0.5
    assert summary["kw_great"]["incorrect"] == n_great and summary["kw_great"]["prior"] == neg_prior
    assert not summary["kw_good"]["hurts"] and not summary["kw_bad"]["hurts"]
    text = format_result(result)
    assert "weak targets: supervised combiner (CV macro-F1: label model " in text
    assert "; 5 folds over 60 golden labels" in text
    assert f"LFs that hurt (golden precision below their label's prior): kw_great (0.00 < {neg_prior:.2f})" in text
    assert "on 60 golden labels (dev 20, lf 40, train 0; test labels are never used here)" in text
    assert [line.split()[0] for line in text.splitlines() if line.endswith("HURTS")] == ["kw_great"]


def test_few_golden_labels_keep_the_label_model_and_say_why(engine, tmp_path: Path, toy_task: Path) -> None:
    posts, gold = toy_posts(15)  # 60 posts
    ids = [p["id"] for p in posts]
    dev_ids = ids[:12]
    version = make_version(engine, tmp_path, posts, dev_ids=dev_ids, lf=20)
    add_golden(engine, "toy", {i: gold[i] for i in dev_ids})

    result = run_label(toy_task, version, progress=False)
    weak = result.weak_targets
    assert weak == {"choice": "label_model", "cv_macro_f1": {}, "folds": 0, "n_golden": 12,
                    "reason": "only 12 golden labels on dev/lf/train; need 30 and 5 per class to compare"}
    text = format_result(result)
    assert ("weak targets: label model (only 12 golden labels on dev/lf/train; need 30 and 5 per class to compare)"
            in text)
    # the weak targets are the label model's, fitted as before on the LF+train votes
    task = load_task(toy_task)
    lf_frame = pd.read_parquet(weak_path(version, "toy", "lf"))
    train = pd.read_parquet(weak_path(version, "toy"))
    with engine.connect() as conn:
        _, _, voted_ids, L = votes.run_votes(conn, result.run_id)
    fit_ids = lf_frame["id"].tolist() + train["id"].tolist()
    L_fit = L[[voted_ids.index(i) for i in fit_ids]]
    model = analysis.fit_label_model(L_fit, 2, task.label_model, progress=False)
    written = pd.concat([lf_frame, train])[["prob_neg", "prob_pos"]].to_numpy()
    assert np.allclose(written, model.predict_proba(L_fit.astype(np.int64)), atol=1e-5)
    # even a dozen dev labels show that kw_great votes the wrong label
    summary = {r["name"]: r for r in result.lf_summary}
    great = summary["kw_great"]
    assert great["hurts"] and (great["correct"], great["incorrect"], great["precision"]) == (0, 3, 0.0)
    assert "LFs that hurt (golden precision below their label's prior): kw_great (0.00 < 0.50)" in text
