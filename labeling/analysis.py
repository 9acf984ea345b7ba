"""Label model, LF analysis and scores: Snorkel's ``LabelModel`` and ``LFAnalysis``.

Hard predictions break ties at random with a seeded generator (as Snorkel's tutorial scores
with ``tie_break_policy="random"``), so rows no LF votes on still get a prediction and count
in the accuracy.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.metrics import accuracy_score, f1_score
from snorkel.labeling import LFAnalysis
from snorkel.labeling.model import LabelModel


#: Snorkel's ``LabelModel`` refuses fewer LFs ("L_train should have at least 3 labeling functions").
MIN_LABEL_MODEL_LFS = 3


def label_model_fallback(n_lfs: int, task_file: str) -> str | None:
    """Why a task gets majority vote instead of the label model, or None when it can have one.

    A first task file often starts with one or two LFs; it should still label, train and be
    improved, so majority vote (what the label model reduces to with so little to weigh)
    stands in, and the note says so wherever the label model's results are shown.
    """
    if n_lfs >= MIN_LABEL_MODEL_LFS:
        return None
    return (f"{task_file} has {n_lfs} LF(s); Snorkel's label model needs at least {MIN_LABEL_MODEL_LFS}, "
            "so majority vote of the LFs stands in for it (its scores are reported as the label model's)")


def fit_label_model(L: np.ndarray, cardinality: int, params: dict[str, Any], progress: bool = True) -> LabelModel:
    """Fit Snorkel's ``LabelModel`` on ``L`` with the task's ``[label_model]`` settings.

    Runs torch on one thread: the model's matrices are tiny (LFs x classes squared), and
    several threads on a busy machine make each epoch many times slower.
    """
    model = LabelModel(cardinality=cardinality, verbose=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model.fit(L.astype(np.int64), class_balance=params.get("class_balance"), progress_bar=progress,
                  n_epochs=params["epochs"], lr=params["lr"], l2=params["l2"], seed=params["seed"])
    finally:
        torch.set_num_threads(threads)
    return model


def one_hot_votes(L: np.ndarray, cardinality: int) -> sp.csr_matrix:
    """Label matrix ``L`` (``n x m``, -1 = abstain) as ``n x (m * cardinality)`` indicators:
    column ``j * cardinality + c`` says "LF j voted label c"; an abstain sets none."""
    L = np.asarray(L)
    rows, lfs = np.nonzero(L >= 0)
    cols = lfs * cardinality + L[rows, lfs].astype(int)
    return sp.csr_matrix((np.ones(len(rows), "float32"), (rows, cols)), shape=(len(L), L.shape[1] * cardinality))


def hard_labels(probs: np.ndarray, seed: int) -> np.ndarray:
    """Argmax of each row, ties broken at random (seeded)."""
    if not len(probs):
        return np.zeros(0, dtype=np.int64)
    rng = np.random.default_rng(seed)
    noise = rng.random(probs.shape) * 1e-9
    top = probs.max(axis=1, keepdims=True)
    return np.argmax(np.where(np.isclose(probs, top, rtol=0, atol=1e-9), 1.0 + noise, 0.0), axis=1)


def hard_labels_keyed(probs: np.ndarray, keys: list[str], seed: int) -> np.ndarray:
    """Argmax of each row, ties broken by a seeded hash of the row's key (its post id): the same
    label for a post however the rows are cut into batches or partitions (the Spark engine)."""
    if not len(probs):
        return np.zeros(0, dtype=np.int64)
    hashes = pd.util.hash_array(np.asarray(keys, dtype=object), hash_key=f"{seed:016d}"[-16:])
    noise = np.stack([pd.util.hash_array(hashes + np.uint64(c)) for c in range(probs.shape[1])], axis=1)
    top = probs.max(axis=1, keepdims=True)
    return np.argmax(np.where(np.isclose(probs, top, rtol=0, atol=1e-9), noise, 0), axis=1)


def scores(y_true: np.ndarray, y_pred: np.ndarray, cardinality: int) -> dict[str, Any]:
    """Accuracy and macro-F1 of ``y_pred`` against golden ``y_true``, with their count ``n``."""
    return {"n": int(len(y_true)),
            "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
            "macro_f1": round(float(f1_score(y_true, y_pred, labels=list(range(cardinality)),
                                             average="macro", zero_division=0)), 4)}


def label_priors(y: np.ndarray, cardinality: int) -> np.ndarray:
    """Share of each label among golden rows ``y``: the precision a constant guess of that label gets."""
    return np.bincount(y, minlength=cardinality) / len(y)


def vote_weighted_prior(votes: np.ndarray, priors: np.ndarray) -> float | None:
    """Prior of the labels one LF votes, weighted by how often it votes each (None without votes).

    An LF whose golden precision is below this does worse than always guessing its own
    label(s): it adds noise to every combiner of the votes.
    """
    counts = np.bincount(votes[votes >= 0], minlength=len(priors))
    return float(counts @ priors / counts.sum()) if counts.sum() else None


def golden_precision(row: dict[str, Any], votes: np.ndarray, priors: np.ndarray) -> dict[str, Any]:
    """``precision``, ``prior`` and ``hurts`` of one LF from its golden correct/incorrect counts."""
    prior = vote_weighted_prior(votes, priors)
    precision = row["emp_acc"]  # Snorkel's empirical accuracy: correct / (correct + incorrect) where it voted
    return {"precision": precision, "prior": None if prior is None else round(prior, 4),
            "hurts": precision is not None and prior is not None and precision < round(prior, 4)}


def lf_summary(L: np.ndarray, names: list[str], kinds: list[str], labels: list[str],
               L_gold: np.ndarray | None = None, y_gold: np.ndarray | None = None,
               weights: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Snorkel's LF summary of ``L`` per LF, with correct/incorrect/precision on golden rows.

    ``L_gold``/``y_gold`` are the golden non-test rows (dev, LF and train splits): never test,
    which stays untouched for honest evaluation. Keys: name, kind, polarity (label names),
    coverage, overlaps, conflicts, correct, incorrect, emp_acc (Snorkel's empirical accuracy),
    precision (the same number, under the name the "hurts" rule uses), prior (vote-weighted
    share of the LF's label(s) among golden rows), hurts (precision < prior), weight (the label
    model's learned accuracy). The golden fields are None (hurts False) without golden rows.
    """
    has_gold = L_gold is not None and y_gold is not None and len(y_gold) > 0
    with warnings.catch_warnings():  # scipy's dtype FutureWarning inside Snorkel's LFAnalysis
        warnings.simplefilter("ignore", FutureWarning)
        summary = LFAnalysis(L.astype(np.int64)).lf_summary() if len(L) else None
        gold = LFAnalysis(L_gold.astype(np.int64)).lf_summary(Y=y_gold.astype(np.int64)) if has_gold else None
    priors = label_priors(y_gold.astype(np.int64), len(labels)) if has_gold else None
    rows = []
    for j, name in enumerate(names):
        row: dict[str, Any] = {"name": name, "kind": kinds[j], "polarity": [], "coverage": 0.0,
                               "overlaps": 0.0, "conflicts": 0.0, "correct": None, "incorrect": None,
                               "emp_acc": None, "precision": None, "prior": None, "hurts": False,
                               "weight": None if weights is None else round(float(weights[j]), 4)}
        if summary is not None:
            s = summary.iloc[j]
            row.update(polarity=[labels[int(p)] for p in s["Polarity"]], coverage=round(float(s["Coverage"]), 4),
                       overlaps=round(float(s["Overlaps"]), 4), conflicts=round(float(s["Conflicts"]), 4))
        if gold is not None:
            g = gold.iloc[j]
            acc = float(g["Emp. Acc."])
            row.update(correct=int(g["Correct"]), incorrect=int(g["Incorrect"]),
                       emp_acc=None if np.isnan(acc) else round(acc, 4))
            row.update(golden_precision(row, L_gold[:, j], priors))
        rows.append(row)
    return rows
