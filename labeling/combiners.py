"""Which combiner of the LF votes produces the weak targets: label model, majority vote or supervised.

A first task file is imperfect: Snorkel's ``LabelModel`` is often no better than majority vote,
and an LF that votes the wrong label can pull both down. Once golden labels exist outside the
test split, this module lets them decide. Three combiners of the label matrix ``L`` compete by
stratified cross-validation over the golden rows:

- ``label_model``: Snorkel's ``LabelModel``, fitted unsupervised on the LF+train matrix. It never
  sees a golden label, so it is not refitted per fold; CV only scores it on the held-out rows.
- ``majority_vote``: Snorkel's ``MajorityLabelVoter`` (uniform over ties; uniform when uncovered).
- ``supervised``: a scikit-learn ``LogisticRegression`` on one-hot LF votes, refitted per fold on
  the golden training rows. It can learn what no unsupervised combiner can: that an LF's vote
  means the *other* label.

Scores are macro-F1 over all held-out golden rows, uncovered ones included (their prediction is
the combiner's argmax with ``analysis.hard_labels``' seeded random tie break). Ties go to the
label model, then majority vote: the simpler, unsupervised combiner needs no golden labels to
keep working as the data grows. Golden test labels are never passed here.

A task with fewer LFs than Snorkel's ``LabelModel`` accepts (``analysis.MIN_LABEL_MODEL_LFS``)
has no label model (``label_model=None``): majority vote takes its place, and only majority
vote and the supervised combiner compete.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
from snorkel.labeling.model import LabelModel

from labeling import analysis
from labeling.label_matrix import majority_probs

#: Golden labels (dev + lf + train) needed before the combiners are compared at all.
MIN_GOLDEN = 30
#: Golden labels every class needs; equal to the fold count so each held-out fold holds every class.
MIN_PER_CLASS = 5
CV_FOLDS = MIN_PER_CLASS
#: Inverse L2 strength of the supervised combiner: fixed, so the choice has no tuning of its own to overfit.
SUPERVISED_C = 1.0

#: Candidates in order of preference on a tie.
COMBINERS = ("label_model", "majority_vote", "supervised")
DISPLAY = {"label_model": "label model", "majority_vote": "majority vote", "supervised": "supervised combiner"}

ProbaFn = Callable[[np.ndarray], np.ndarray]


def vote_features(L: np.ndarray, cardinality: int) -> np.ndarray:
    """One-hot LF votes: ``m x k`` indicators (LF j voted label c), plus one "uncovered" indicator.

    Abstains (-1) set no indicator, so an all-abstain row is all zeros but the last column; the
    supervised combiner's probability for it is what it learned for uncovered posts.
    """
    L = np.asarray(L, dtype=np.int64)
    uncovered = (L < 0).all(axis=1, keepdims=True)
    return np.hstack([analysis.one_hot_votes(L, cardinality).toarray(), uncovered]).astype(np.float64)


def supervised_combiner(cardinality: int) -> Pipeline:
    """The supervised combiner: one-hot votes into a small, deterministic, class-balanced logistic regression."""
    return make_pipeline(FunctionTransformer(vote_features, kw_args={"cardinality": cardinality}),
                         LogisticRegression(C=SUPERVISED_C, solver="lbfgs", class_weight="balanced", max_iter=1000))


def predict_all(proba: ProbaFn, L: np.ndarray, cardinality: int) -> np.ndarray:
    """``proba(L)``, or an empty ``(0, k)`` matrix for an empty ``L`` (scikit-learn rejects 0 rows)."""
    return proba(L) if len(L) else np.zeros((0, cardinality))


@dataclass(frozen=True)
class WeakTargets:
    """The chosen combiner and the evidence for it; ``predict_proba`` maps ``L`` to class probabilities."""

    choice: str
    reason: str
    cv_macro_f1: dict[str, float]
    folds: int
    n_golden: int
    predict_proba: ProbaFn

    def report(self) -> dict[str, Any]:
        """The JSON-able part, stored with the run and returned by ``run_label``."""
        return {"choice": self.choice, "reason": self.reason, "cv_macro_f1": self.cv_macro_f1,
                "folds": self.folds, "n_golden": self.n_golden}


def too_few_golden(y: np.ndarray, labels: list[str]) -> str | None:
    """Why ``y`` cannot decide between combiners, or None when it can."""
    if len(y) < MIN_GOLDEN:
        return f"only {len(y)} golden labels"
    per_class = np.bincount(y, minlength=len(labels))
    short = [f"{labels[c]} {n}" for c, n in enumerate(per_class) if n < MIN_PER_CLASS]
    return f"too few golden labels per class ({', '.join(short)})" if short else None


def candidates(label_model: LabelModel | None) -> tuple[str, ...]:
    """The combiners that compete: all of :data:`COMBINERS`, without the label model when there is none."""
    return COMBINERS if label_model is not None else tuple(c for c in COMBINERS if c != "label_model")


def out_of_fold_probs(label_model: LabelModel | None, L: np.ndarray, y: np.ndarray, cardinality: int,
                      seed: int) -> dict[str, np.ndarray]:
    """Each combiner's class probabilities for every golden row, predicted while that row was held out."""
    oof = {"majority_vote": majority_probs(L, cardinality), "supervised": np.zeros((len(y), cardinality))}
    if label_model is not None:
        oof["label_model"] = label_model.predict_proba(L.astype(np.int64))  # unsupervised: no fold sees y
    folds = StratifiedKFold(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    for fit_rows, held_out in folds.split(L, y):
        model = supervised_combiner(cardinality).fit(L[fit_rows], y[fit_rows])
        oof["supervised"][np.ix_(held_out, model.classes_)] = model.predict_proba(L[held_out])
    return oof


def cv_scores(label_model: LabelModel | None, L: np.ndarray, y: np.ndarray, cardinality: int,
              seed: int) -> dict[str, float]:
    """Macro-F1 of each combiner's out-of-fold predictions over all golden rows (pooled across folds)."""
    oof = out_of_fold_probs(label_model, L, y, cardinality, seed)
    return {name: analysis.scores(y, analysis.hard_labels(oof[name], seed), cardinality)["macro_f1"]
            for name in candidates(label_model)}


def choose_weak_targets(label_model: LabelModel | None, L: np.ndarray, y: np.ndarray, labels: list[str],
                        seed: int, where: str = "dev/lf/train") -> WeakTargets:
    """Pick the combiner whose probabilities become the weak targets; ``L``/``y`` are golden non-test rows.

    Keeps the label model (majority vote when there is none) without comparing when ``y`` is
    too small to tell combiners apart. The supervised combiner, when chosen, is refitted on all
    golden rows.
    """
    k = len(labels)
    y = np.asarray(y, dtype=np.int64)
    names = candidates(label_model)
    proba: dict[str, ProbaFn] = {"majority_vote": lambda rows: majority_probs(rows, k)}
    if label_model is not None:
        proba["label_model"] = lambda rows: label_model.predict_proba(rows.astype(np.int64))
    short = too_few_golden(y, labels)
    if short:
        return WeakTargets(names[0], f"{short} on {where}; need {MIN_GOLDEN} and {MIN_PER_CLASS} per class "
                           "to compare", {}, 0, len(y), proba[names[0]])
    scores = cv_scores(label_model, L, y, k, seed)
    choice = max(names, key=lambda name: (scores[name], -names.index(name)))
    runner_up = max(scores[name] for name in names if name != choice)
    reason = ("highest CV macro-F1" if scores[choice] > runner_up
              else f"tied CV macro-F1; {DISPLAY[choice]} preferred on ties")
    if choice == "supervised":
        proba["supervised"] = supervised_combiner(k).fit(L, y).predict_proba
    return WeakTargets(choice, reason, scores, CV_FOLDS, len(y), proba[choice])


def describe(report: dict[str, Any]) -> str:
    """One line for ``bin/label.sh``: the chosen combiner and the CV scores or the reason it was not compared."""
    if not report["cv_macro_f1"]:
        return f"weak targets: {DISPLAY[report['choice']]} ({report['reason']})"
    scores = ", ".join(f"{DISPLAY[name].removesuffix(' combiner')} {report['cv_macro_f1'][name]:.2f}"
                       for name in COMBINERS if name in report["cv_macro_f1"])
    return (f"weak targets: {DISPLAY[report['choice']]} (CV macro-F1: {scores}; {report['folds']} folds over "
            f"{report['n_golden']} golden labels; {report['reason']})")
