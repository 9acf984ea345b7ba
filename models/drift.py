"""The figures a monitoring check computes from arrays: label distributions and their PSI,
confidence, and how the labeling functions' votes on live posts relate to the model's labels.

Pure functions over NumPy arrays, so the thresholds' arithmetic is tested without a database.

PSI (population stability index) of two distributions over the same labels is
``sum((live - ref) * ln(live / ref))``; the usual reading is below 0.1 stable, 0.1-0.25 a
moderate shift, above 0.25 a large one. A label with no post on one side would make it infinite,
so every share is floored at ``EPSILON`` first (the common convention): one missing label then
counts as a large, finite shift.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labeling.label_matrix import ABSTAIN, majority_vote

EPSILON = 1e-4


def shares(labels: Sequence[str], names: Sequence[str]) -> dict[str, float]:
    """Share of each of ``names`` among ``labels`` (all 0.0 when there are none)."""
    counts = {name: 0 for name in names}
    for label in labels:
        if label in counts:
            counts[label] += 1
    total = sum(counts.values())
    return {name: round(n / total, 6) if total else 0.0 for name, n in counts.items()}


def psi(reference: dict[str, float], live: dict[str, float]) -> float:
    """PSI of ``live`` against ``reference`` (label -> share), over the reference's labels."""
    ref = np.maximum(np.array([reference[k] for k in reference], dtype="float64"), EPSILON)
    cur = np.maximum(np.array([live.get(k, 0.0) for k in reference], dtype="float64"), EPSILON)
    return round(float(np.sum((cur - ref) * np.log(cur / ref))), 6)


def confidence(values: np.ndarray, low: float) -> dict[str, Any]:
    """``mean`` confidence and ``low_share``, the share of predictions below ``low`` (None when empty)."""
    values = np.asarray(values, dtype="float64")
    if not len(values):
        return {"mean": None, "low_share": None, "low_confidence": low}
    return {"mean": round(float(values.mean()), 6), "low_share": round(float((values < low).mean()), 6),
            "low_confidence": low}


def lf_agreement(votes: np.ndarray, predicted: np.ndarray, cardinality: int) -> dict[str, Any]:
    """How the LF votes (one row per post, ``ABSTAIN`` = -1) relate to the model's label indices.

    ``coverage``: share of posts with at least one vote; ``agreement``: among the posts whose
    LFs have a majority (no tie), the share where the model predicts that label (None without
    any); ``posts``, ``covered`` and ``compared`` are the counts behind them.
    """
    n = len(votes)
    covered = (votes != ABSTAIN).any(axis=1) if n else np.zeros(0, dtype=bool)
    majority = majority_vote(votes, cardinality) if n else np.zeros(0, dtype=int)
    decided = majority != ABSTAIN
    compared = int(decided.sum())
    return {"posts": n, "covered": int(covered.sum()), "coverage": round(float(covered.mean()), 6) if n else None,
            "compared": compared,
            "agreement": round(float((majority[decided] == predicted[decided]).mean()), 6) if compared else None}
