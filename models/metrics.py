"""Classification metrics against golden labels, with honest uncertainty for small test sets.

Predictions are class indices; ``-1`` means the model abstained (an LF or majority vote with
no vote): it counts as a wrong answer, so abstaining never inflates precision-free metrics.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

from labeling.label_matrix import ABSTAIN


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``correct / n``."""
    if n == 0:
        return (0.0, 1.0)
    ci = binomtest(int(correct), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str], *,
                           proba: np.ndarray | None = None, positive: str | None = None) -> dict[str, Any]:
    """Accuracy (with Wilson 95% interval), macro-F1, per-class P/R/F1, confusion matrix, coverage,
    and for binary tasks with probabilities PR AUC (average precision) and ROC AUC."""
    y_true = np.asarray(y_true, int)
    y_pred = np.asarray(y_pred, int)
    n = len(y_true)
    classes = list(range(len(labels)))
    correct = int((y_true == y_pred).sum())
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    columns = classes + ([ABSTAIN] if (y_pred == ABSTAIN).any() else [])
    matrix = confusion_matrix(y_true, y_pred, labels=columns)[: len(classes)]
    low, high = wilson_interval(correct, n)
    out: dict[str, Any] = {
        "n": n, "accuracy": correct / n if n else None, "accuracy_ci95": [low, high],
        "macro_f1": float(np.mean(f)) if n else None, "coverage": float((y_pred != ABSTAIN).mean()) if n else None,
        "per_class": {label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                              "support": int(support[i])} for i, label in enumerate(labels)},
        "confusion": {"labels": labels + (["abstain"] if ABSTAIN in columns else []), "matrix": matrix.tolist()},
    }
    if proba is not None and len(labels) == 2 and positive is not None and len(set(y_true)) == 2:
        pos = labels.index(positive)
        out["pr_auc"] = float(average_precision_score(y_true == pos, proba[:, pos]))
        out["roc_auc"] = float(roc_auc_score(y_true == pos, proba[:, pos]))
    return out
