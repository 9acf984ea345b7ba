"""Active learning: rank the unlabeled pool so people label the most useful posts first.

Strategies (``[active_learning] strategy``):

- ``entropy`` (alias ``uncertainty``) and ``margin``: the end model's uncertainty, computed
  with scikit-activeml's ``uncertainty_scores``;
- ``lf_conflict``: entropy of the LFs' non-abstain votes (posts no LF covers come next);
- ``disagreement``: total-variation distance between label-model and end-model probabilities;
- ``diverse``: uncertainty within clusters: the ``batch_size * candidates_per_cluster`` most
  uncertain posts are clustered (k-means on the model's features, ``batch_size`` clusters)
  and the most uncertain post of each cluster forms the batch;
- ``random``: the baseline.

Near duplicates: for every strategy but ``random``, a batch never holds two posts whose model
features (TF-IDF vector or BiLSTM state) have a cosine similarity of ``duplicate_similarity``
or more; the skipped near-duplicates follow the batch (labeling one teaches the model the other).

Cold start: while the pool holds no golden label, every strategy but ``random`` interleaves
the LFs' majority classes (round-robin) so the first batch shows every class.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from skactiveml.pool import uncertainty_scores
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD

from models.evaluate import majority_vote
from models.metrics import ABSTAIN
from models.params import ActiveParams

SVD_DIMS = 32


@dataclass
class Pool:
    """Unlabeled posts with what the strategies need (rows aligned with ``ids``)."""

    ids: list[str]
    texts: list[str]
    end_probs: np.ndarray            # (n, k) end-model probabilities
    label_probs: np.ndarray | None   # (n, k) label-model probabilities, when known
    votes: np.ndarray                # (n, m) LF votes, -1 = abstain
    labels: list[str]


def _vote_counts(votes: np.ndarray, k: int) -> np.ndarray:
    return np.stack([(votes == c).sum(axis=1) for c in range(k)], axis=1) if votes.size else np.zeros((len(votes), k))


def _lf_conflict(pool: Pool) -> tuple[np.ndarray, list[str]]:
    counts = _vote_counts(pool.votes, len(pool.labels))
    total = counts.sum(axis=1)
    dist = np.divide(counts, total[:, None], out=np.full(counts.shape, 1 / len(pool.labels)), where=total[:, None] > 0)
    score = np.where(total > 0, uncertainty_scores(dist, method="entropy"), 0.0)
    score = score + np.where(total == 0, 1e-3, 0.0)  # uncovered posts right after the conflicts
    reasons = [("LFs disagree: " + ", ".join(f"{int(c)} {pool.labels[j]}" for j, c in enumerate(row) if c))
               if (row > 0).sum() > 1 else ("no LF voted" if row.sum() == 0 else "LFs agree")
               for row in counts]
    return score, reasons


def _uncertainty(method: str) -> Callable[[Pool], tuple[np.ndarray, list[str]]]:
    def score(pool: Pool) -> tuple[np.ndarray, list[str]]:
        values = uncertainty_scores(pool.end_probs, method=method)
        best = pool.end_probs.argmax(1)
        return values, [f"model unsure: {pool.labels[b]} {pool.end_probs[i, b]:.2f}" for i, b in enumerate(best)]
    return score


def _disagreement(pool: Pool) -> tuple[np.ndarray, list[str]]:
    if pool.label_probs is None:
        return _uncertainty("entropy")(pool)
    score = 0.5 * np.abs(pool.end_probs - pool.label_probs).sum(axis=1)
    lm, em = pool.label_probs.argmax(1), pool.end_probs.argmax(1)
    return score, [f"label model {pool.labels[a]} vs end model {pool.labels[b]}" for a, b in zip(lm, em)]


SCORERS: dict[str, Callable[[Pool], tuple[np.ndarray, list[str]]]] = {
    "entropy": _uncertainty("entropy"), "margin": _uncertainty("margin_sampling"),
    "lf_conflict": _lf_conflict, "disagreement": _disagreement, "diverse": _uncertainty("entropy"),
}


def _diverse_order(order: np.ndarray, pool: Pool, score: np.ndarray, params: ActiveParams,
                   embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Re-order ``order`` (most uncertain first): the most uncertain post of each k-means
    cluster of the top candidates, then the rest."""
    n_candidates = min(len(order), params.batch_size * params.candidates_per_cluster)
    candidates = order[:n_candidates]
    n_clusters = min(params.batch_size, n_candidates)
    if n_clusters < 2:
        return order
    features = embed([pool.texts[i] for i in candidates])
    if features.shape[1] > SVD_DIMS and n_candidates > SVD_DIMS:
        features = TruncatedSVD(SVD_DIMS, random_state=params.seed).fit_transform(features)
    clusters = KMeans(n_clusters, n_init=1, random_state=params.seed).fit_predict(features)
    heads = [candidates[clusters == c][0] for c in range(n_clusters) if (clusters == c).any()]
    heads = sorted(heads, key=lambda i: -score[i])
    chosen = set(heads)
    return np.array(heads + [i for i in order if i not in chosen], dtype=int)


def _distinct_batch(order: np.ndarray, pool: Pool, params: ActiveParams,
                    embed: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Re-order ``order``: the batch takes posts in order, skipping near-duplicates of posts
    already in it (cosine similarity of model features >= ``duplicate_similarity``); the rest follow."""
    n_candidates = min(len(order), params.batch_size * params.candidates_per_cluster)
    if params.duplicate_similarity > 1 or n_candidates < 2:
        return order
    candidates = order[:n_candidates]
    features = np.asarray(embed([pool.texts[i] for i in candidates]), dtype="float64")
    features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
    picked: list[int] = []
    for j in range(n_candidates):
        if len(picked) == params.batch_size:
            break
        if not picked or float((features[picked] @ features[j]).max()) < params.duplicate_similarity:
            picked.append(j)
    batch = candidates[picked]
    chosen = set(batch.tolist())
    return np.concatenate([batch, np.array([i for i in order if i not in chosen], int)]).astype(int)


def _cold_start(order: np.ndarray, pool: Pool, limit: int) -> np.ndarray:
    """Interleave the LFs' majority classes (round-robin) over the head of ``order``."""
    vote = majority_vote(pool.votes, len(pool.labels))[order]
    lanes = [list(order[vote == c]) for c in range(len(pool.labels))]
    mixed: list[int] = []
    while len(mixed) < limit and any(lanes):
        for lane in lanes:
            if lane and len(mixed) < limit:
                mixed.append(lane.pop(0))
    chosen = set(mixed)
    return np.concatenate([np.array(mixed, int), np.array([i for i in order if i not in chosen], int)]).astype(int)


def rank_pool(pool: Pool, strategy: str, params: ActiveParams, *, cold_start: bool,
              embed: Callable[[list[str]], np.ndarray] | None = None, seed: int | None = None) -> pd.DataFrame:
    """Rank the pool for ``strategy``: ``post_id, rank (1 = first), score, reason``, ``queue_size`` rows."""
    n = len(pool.ids)
    limit = min(n, params.queue_size)
    rng = np.random.default_rng(params.seed if seed is None else seed)
    if strategy == "random":
        order, score, reasons = rng.permutation(n), np.full(n, np.nan), ["random baseline"] * n
    else:
        score, reasons = SCORERS[strategy](pool)
        tiebreak = rng.permutation(n)  # equal scores come in random, not file, order
        order = np.lexsort((tiebreak, -score))
        if strategy == "diverse" and embed is not None:
            order = _diverse_order(order, pool, score, params, embed)
        if cold_start:
            order = _cold_start(order, pool, limit)
            reasons = [f"cold start (LF vote {pool.labels[v]}): {r}" if v != ABSTAIN else r
                       for v, r in zip(majority_vote(pool.votes, len(pool.labels)), reasons)]
        if embed is not None:
            order = _distinct_batch(order, pool, params, embed)
    head = order[:limit]
    return pd.DataFrame({"post_id": [pool.ids[i] for i in head], "rank": np.arange(1, len(head) + 1),
                         "score": [None if np.isnan(score[i]) else float(score[i]) for i in head],
                         "reason": [reasons[i] for i in head]})
