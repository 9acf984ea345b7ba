"""Model selection: golden labels decide how much the weak labels count, and which features win.

A user's first task file is imperfect: weak labels can make the end model worse than golden
labels alone. Before each training, stratified cross-validation over the golden labels of the
pool splits plus dev scores every candidate by macro-F1 on the held-out folds:

* architecture: ``tfidf``, ``encoder`` (sentence embeddings), ``tfidf+encoder``;
* weak mode: ``golden_only`` (ignore the LFs), ``lf_features`` (golden labels, LF votes as extra
  input features), ``weak`` (weak targets plus golden labels at each of a few golden weights),
  ``ensemble`` (one model for each of those, their logits averaged: :func:`ensemble_members`);
* the L2 penalty.

The search runs in two stages (:func:`select`). A candidate's score is the macro-F1 of its
out-of-fold predictions over all golden rows. Stage 1 keeps the preferred candidate (the task
file's settings) unless another beats it by more than one standard error (:func:`_pick`); stage 2
keeps the ensemble unless golden labels alone beat it so (:func:`choose_use`). Every fit is the
exact convex optimum of :func:`models.classifier.fit_softmax`, so the scores do not depend on a
seed. Feature blocks are computed once for all rows; weak rows enter each CV fit as a fixed
weighted sample with the same total weight as all of them, so the penalty means the same as in
the final fit. With too few golden labels to decide, the task
file's settings are used and :attr:`Selection.reason` says so.
"""
from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedGroupKFold
from tqdm import tqdm

from labeling.analysis import one_hot_votes
from models import encoder
from models.classifier import class_weighted, fit_softmax, softmax_probs, to_targets
from models.features import FeatureSpace, Posts, join_blocks
from models.params import TrainParams


MIN_PROBABILITY = 1e-12        # floor before taking logs of out-of-fold probabilities
DUPLICATE_SIMILARITY = 0.9  # TF-IDF cosine at which two golden posts count as one in CV folds


@dataclass(frozen=True)
class Candidate:
    """One way to train the end model."""

    architecture: str
    weak_mode: str
    golden_weight: float | None
    l2: float

    @property
    def name(self) -> str:
        weak = f"weak x{self.golden_weight:g}" if self.weak_mode == "weak" else self.weak_mode
        return f"{self.architecture} / {weak} / l2 {self.l2:g}"

    def params(self, base: TrainParams) -> TrainParams:
        """``base`` with this candidate's settings (an ensemble's members: :func:`ensemble_members`)."""
        return dataclasses.replace(base, architecture=self.architecture, use_weak=self.weak_mode == "weak",
                                   lf_features=self.weak_mode == "lf_features", ensemble=self.weak_mode == "ensemble",
                                   l2=self.l2, golden_weight=self.golden_weight or base.golden_weight)


def task_candidate(params: TrainParams) -> Candidate:
    """The candidate the task file's settings describe."""
    if params.ensemble:
        mode = "ensemble"
    else:
        mode = "weak" if params.use_weak else ("lf_features" if params.lf_features else "golden_only")
    return Candidate(params.architecture, mode, params.golden_weight if mode == "weak" else None, params.l2)


def ensemble_members(params: TrainParams, has_votes: bool, has_weak: bool) -> list[Candidate]:
    """The models an ensemble with ``params``' architecture and penalty averages: LF votes as
    features, golden labels alone and weak targets at each golden weight, as far as the data
    allows (votes, weak rows).

    Each single way errs where its own assumption fails (weak targets where the LFs are wrong,
    golden labels alone where they are few, LF-vote features where the golden labels cover other
    posts than the pool), and cross-validation over a few hundred golden labels could not tell
    reliably which one would fail: on the airline pool, at 100 labels, it rated LF votes as
    features best (0.83 macro-F1) where they scored 0.60 on the rest of the pool, below three
    other ways, while the average of all five came within 0.002 of the best single way there or
    beat it, at every point from 100 to 500 labels of three seeds (docs/benchmarks.md, "an
    ensemble of the ways").
    Averaging logits (a product of experts) keeps the result one softmax layer.
    """
    alone = Candidate(params.architecture, "golden_only", None, params.l2)
    members = [dataclasses.replace(alone, weak_mode="lf_features")] if has_votes else []
    members.append(alone)
    if has_weak:
        weights = sorted({float(w) for w in params.select_golden_weights} | {params.golden_weight}, reverse=True)
        members += [dataclasses.replace(alone, weak_mode="weak", golden_weight=w) for w in weights]
    return members


def _fits(candidate: Candidate, has_votes: bool, has_weak: bool) -> bool:
    """Whether the data has what ``candidate`` needs (weak rows, LF votes, two ways to average)."""
    if candidate.weak_mode == "ensemble":
        return has_votes or has_weak
    return not ((candidate.weak_mode == "weak" and not has_weak) or
                (candidate.weak_mode == "lf_features" and not has_votes))


@dataclass(frozen=True)
class Selection:
    """The chosen training settings and the evidence for them."""

    params: TrainParams
    chosen: str
    reason: str
    folds: int = 0
    n_golden: int = 0
    scores: list[dict[str, Any]] = field(default_factory=list)
    encoder: dict[str, Any] = field(default_factory=dict)  # the final fit's encoder (models.finetune.EncoderChoice)

    def to_json(self) -> dict[str, Any]:
        return {"chosen": self.chosen, "reason": self.reason, "folds": self.folds, "n_golden": self.n_golden,
                "candidates": self.scores, "encoder": self.encoder}


@dataclass
class CVData:
    """The golden rows to cross-validate and the weak rows that join every training fold."""

    golden: Posts
    golden_y: np.ndarray
    weak: Posts
    weak_targets: np.ndarray
    weak_scale: float          # each sampled weak row stands for this many weak rows


def _task_first(values: list[Any], preferred: Any) -> list[Any]:
    """``values`` without duplicates, ``preferred`` first when it is among them."""
    unique = list(dict.fromkeys(values))
    return sorted(unique, key=lambda v: v != preferred)


def representations(params: TrainParams, has_votes: bool, has_weak: bool) -> list[Candidate]:
    """Stage 1: every architecture and L2 penalty, each used the way the task file says (golden
    labels alone when its way does not fit the data); the task file's own architecture and
    penalty first (they win ties, see :func:`_pick`). Judging the representations with the
    model they will mostly serve kept a TF-IDF-only model, good on 100 golden labels alone and
    poor with the weak labels, from being picked on noise."""
    mode = task_candidate(params)
    if not _fits(mode, has_votes, has_weak):
        mode = dataclasses.replace(mode, weak_mode="golden_only", golden_weight=None)
    architectures = [a for a in _task_first(params.select_architectures, params.architecture)
                     if "encoder" not in a or encoder.available(params.encoder)]
    penalties = _task_first([float(v) for v in params.select_l2], params.l2)
    return [dataclasses.replace(mode, architecture=a, l2=l2) for a, l2 in itertools.product(architectures, penalties)]


def uses_of_weak(params: TrainParams, best: Candidate, has_votes: bool, has_weak: bool) -> list[Candidate]:
    """Stage 2's options (each when ``select_weak_modes`` lists it): the stage-1 winner used the
    way the task file says, then the ensemble, LF votes as features, golden labels alone, and weak
    targets at each golden weight; the order is the preference :func:`choose_use` follows when
    the ensemble is not among them."""
    singles = ensemble_members(best.params(params), has_votes, has_weak)
    out = [c for c in singles if c.weak_mode in params.select_weak_modes]
    ensemble = dataclasses.replace(best, weak_mode="ensemble", golden_weight=None)
    if "ensemble" in params.select_weak_modes and _fits(ensemble, has_votes, has_weak):
        out.insert(0, ensemble)
    ordered = _task_first(out, best)
    return ordered[:1] + sorted(ordered[1:], key=lambda c: c.weak_mode != "ensemble")


def _pick(scores: list[float], errors: list[float]) -> int:
    """The first option (the preferred one) whose score is within one standard error of the
    best: with few golden labels CV scores are noisy, and switching settings on noise made
    learning curves jump."""
    best = int(np.argmax(scores))
    return next(i for i, value in enumerate(scores) if value >= scores[best] - errors[best])


def choose_use(options: list[Candidate], scores: list[float], errors: list[float]) -> int:
    """Stage 2's choice among ``options`` (ordered by :func:`uses_of_weak`).

    With the ensemble among them, CV decides only whether the LFs help at all: the ensemble
    stays unless golden labels alone beat it by more than one standard error (LFs that hurt,
    as in the adversarial case). Picking the single way with the best CV score bets on CV telling
    the ways apart, and on a few hundred golden labels it could not: on the airline pool, every
    time CV preferred a single way to the ensemble (by up to 0.061 macro-F1), that way scored
    0.016-0.050 below the ensemble on the posts not yet labeled, and those switches made the
    seeds' learning curves dip (docs/benchmarks.md, "Stage 2 keeps the ensemble"). The single
    ways' scores are still computed and recorded: they show which use of the LFs the golden
    labels favour. Without the ensemble, the first option within one standard error of the best.
    """
    modes = [c.weak_mode for c in options]
    if "ensemble" not in modes:
        return _pick(scores, errors)
    hedged = [modes.index("ensemble")] + [i for i, mode in enumerate(modes) if mode == "golden_only"]
    return hedged[_pick([scores[i] for i in hedged], [errors[i] for i in hedged])]


def duplicate_groups(unit_rows: sp.csr_matrix, threshold: float) -> np.ndarray:
    """Group ids joining rows whose cosine similarity reaches ``threshold`` (transitively).

    Near-duplicate posts (spam templates, retweets with a tail) split across CV folds let a
    TF-IDF model score by memory: on the YouTube pool TF-IDF alone then won the CV and lost on
    new data. Keeping each group in one fold scores what the model does on posts it has not seen.
    """
    similar = (unit_rows @ unit_rows.T) >= threshold
    return connected_components(sp.csr_matrix(similar), directed=False)[1]


def too_few(params: TrainParams, y: np.ndarray, n_classes: int) -> str | None:
    """Why ``y`` cannot decide between candidates, or None when it can."""
    counts = np.bincount(y, minlength=n_classes)
    if len(y) < params.select_min_golden or counts.min() < params.select_min_per_class:
        return (f"only {len(y)} golden labels on the pool splits and dev ({counts.tolist()} per class); "
                f"selection needs {params.select_min_golden} and {params.select_min_per_class} per class, "
                "so the task file's settings are used")
    return None


def select(params: TrainParams, data: CVData, labels: list[str], *, n_lfs: int, progress: bool = False) -> Selection:
    """Cross-validate the candidates on ``data`` in two stages and return the best one's parameters.

    Stage 1 picks the architecture and L2 penalty, each candidate using the LFs the way the task
    file says, preferring the task file's architecture and penalty. Stage 2 scores, for that
    model, the use of the LFs the task file sets (by default weak targets, golden labels weighing
    10 weak ones: what training uses until there are golden labels enough to choose), the
    ensemble of the single ways, LF votes as input features, golden labels alone, and weak
    targets at each golden weight, and keeps the ensemble unless golden labels alone are clearly
    better (:func:`choose_use`). When ``select_weak_modes`` leaves the ensemble out, the first of
    them within one standard error of the best wins: keeping the task file's way unless another
    is clearly better stops the model from jumping to a worse one on noise the moment selection
    starts (a 20-label YouTube model at 0.94 accuracy fell to 0.77 at 40 labels otherwise); of
    the other single ways LF votes as features come first because golden labels then decide how
    much each LF's vote counts, so a bad LF costs little and a good one helps.
    Because the penalty is per unit of golden evidence (:func:`fit_softmax`), the stage-1
    penalty carries over to stage 2.
    """
    fallback = task_candidate(params)
    if not params.select:
        return Selection(params, fallback.name, "[train] select = false: the task file's settings")
    if params.architecture == "bilstm":
        return Selection(params, "bilstm", "the bilstm architecture is trained as configured, not selected")
    k = len(labels)
    why_not = too_few(params, data.golden_y, k)
    if why_not:
        return Selection(params, fallback.name, why_not, n_golden=len(data.golden_y))
    n_folds = int(min(params.select_folds, np.bincount(data.golden_y, minlength=k).min()))
    features = _Features(params, data, k, n_lfs)
    groups = duplicate_groups(features.golden_tfidf(), DUPLICATE_SIMILARITY)
    n_folds = min(n_folds, len(np.unique(groups)))
    if n_folds < 2:
        return Selection(params, fallback.name, "the golden labels are near duplicates of each other: nothing to "
                         "cross-validate, so the task file's settings are used", n_golden=len(data.golden_y))
    folds = list(StratifiedGroupKFold(n_folds, shuffle=True, random_state=params.seed)
                 .split(data.golden_y, data.golden_y, groups))
    scores: list[dict[str, Any]] = []
    has_votes, has_weak = data.golden.votes is not None and n_lfs > 0, len(data.weak) > 0
    # per candidate: CV score, its standard error, out-of-fold log-probabilities (an ensemble
    # averages its members'); the stage-1 winner reappears in stage 2
    done: dict[Candidate, tuple[float, float, np.ndarray]] = {}

    def cross_validate(candidate: Candidate) -> tuple[float, float, np.ndarray]:
        """Macro-F1 of the candidate's out-of-fold predictions, its standard error over folds, and
        the out-of-fold log-probabilities."""
        if candidate.weak_mode == "ensemble":
            members = ensemble_members(candidate.params(params), has_votes, has_weak)
            log_probs = np.mean([evaluated(member)[2] for member in members], axis=0)
        else:
            log_probs = np.empty((len(data.golden_y), k))
            for train, test in folds:
                log_probs[test] = _fold_log_probs(candidate, features, data, params, train, test, k)
        predicted = log_probs.argmax(1)
        per_fold = [_macro_f1(data.golden_y[test], predicted[test], k) for _, test in folds]
        return _macro_f1(data.golden_y, predicted, k), float(np.std(per_fold) / np.sqrt(len(folds))), log_probs

    def evaluated(candidate: Candidate) -> tuple[float, float, np.ndarray]:
        if candidate not in done:
            done[candidate] = cross_validate(candidate)
        return done[candidate]

    def score(stage: int, options: list[Candidate]) -> tuple[list[float], list[float]]:
        """Each option's CV score and standard error, recorded in ``scores`` under ``stage``."""
        for candidate in tqdm(options, desc=f"model selection, stage {stage}", unit="candidate", disable=not progress):
            value, error, _ = evaluated(candidate)
            scores.append({"candidate": candidate.name, "stage": stage, "architecture": candidate.architecture,
                           "weak_mode": candidate.weak_mode, "golden_weight": candidate.golden_weight,
                           "l2": candidate.l2, "cv_macro_f1": round(value, 4), "cv_se": round(error, 4)})
        return [done[c][0] for c in options], [done[c][1] for c in options]

    first = representations(params, has_votes, has_weak)
    best = first[_pick(*score(1, first))]
    finalists = uses_of_weak(params, best, has_votes, has_weak)
    if not finalists:
        return Selection(params, fallback.name, "no candidate allowed by [train] select_weak_modes fits this data",
                         n_golden=len(data.golden_y))
    chosen = finalists[choose_use(finalists, *score(2, finalists))]
    rule = ("the ensemble of the ways unless golden labels alone beat it by more than one standard error"
            if any(c.weak_mode == "ensemble" for c in finalists) else
            "the best, or the preferred one when within one standard error")
    return Selection(chosen.params(params), chosen.name,
                     f"{n_folds}-fold CV over {len(data.golden_y)} golden labels, {len(scores)} candidates: {rule}",
                     folds=n_folds, n_golden=len(data.golden_y), scores=scores)


class _Features:
    """Feature matrices of the golden and sampled weak rows, one per architecture and LF use."""

    def __init__(self, params: TrainParams, data: CVData, n_classes: int, n_lfs: int) -> None:
        self.params, self.n_classes, self.n_lfs = params, n_classes, n_lfs
        self.rows = Posts.concat([data.golden, data.weak])
        self.n_golden = len(data.golden)
        self._blocks: dict[str, sp.csr_matrix] = {}
        self._matrices: dict[tuple[str, bool], sp.csr_matrix] = {}

    def _block(self, name: str) -> sp.csr_matrix:
        if name not in self._blocks:
            space = FeatureSpace(name, n_classes=self.n_classes, n_lfs=self.n_lfs, max_tokens=self.params.max_tokens,
                                 ngrams=self.params.ngrams, encoder_name=self.params.encoder).fit(self.rows.texts)
            self._blocks[name] = space.block(name, self.rows)
        return self._blocks[name]

    def golden_tfidf(self) -> sp.csr_matrix:
        """The golden rows' unit-length TF-IDF vectors (for near-duplicate groups)."""
        return self._block("tfidf")[: self.n_golden]

    def matrix(self, architecture: str, lf_features: bool) -> sp.csr_matrix | np.ndarray:
        """Rows: golden first, then weak; columns as :meth:`FeatureSpace.transform` orders them."""
        key = (architecture, lf_features)
        if key not in self._matrices:
            parts = [self._block(b) for b in architecture.split("+")]
            if lf_features:
                parts.append(one_hot_votes(self.rows.votes, self.n_classes))
            self._matrices[key] = join_blocks(parts)
        return self._matrices[key]


def _macro_f1(y: np.ndarray, predicted: np.ndarray, k: int) -> float:
    return float(f1_score(y, predicted, labels=list(range(k)), average="macro", zero_division=0))


def _fold_log_probs(candidate: Candidate, features: _Features, data: CVData, params: TrainParams,
                    train: np.ndarray, test: np.ndarray, k: int) -> np.ndarray:
    """Class log-probabilities of the held-out golden rows ``test`` by the candidate fitted on ``train``."""
    X = features.matrix(candidate.architecture, candidate.weak_mode == "lf_features")
    rows = train
    targets = to_targets(data.golden_y[train], k)
    weights = np.ones(len(train))
    if candidate.weak_mode == "weak" and len(data.weak):
        rows = np.concatenate([train, features.n_golden + np.arange(len(data.weak))])
        targets = np.vstack([targets, data.weak_targets])
        weights = np.concatenate([np.full(len(train), candidate.golden_weight or 1.0),
                                  np.full(len(data.weak), data.weak_scale)])
    weights = class_weighted(params, targets, weights)
    kernel, bias, _ = fit_softmax(X[rows], targets, weights, candidate.l2, scale_rows=np.arange(len(rows)) < len(train))
    return np.log(np.maximum(softmax_probs(X[test], kernel, bias), MIN_PROBABILITY))
