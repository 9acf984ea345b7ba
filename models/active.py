"""Active learning: rank the unlabeled pool so people label the most useful posts first.

Query strategies are composed the way small-text composes them: base strategies rank the pool
on their own, and wrappers take any strategy and re-order what it ranked. Every strategy has
one method, ``rank(pool, rng) -> Ranking``, so a wrapper neither knows nor cares what it wraps.

Base strategies (``[active_learning] strategy``):

- ``entropy`` (alias ``uncertainty``) and ``margin``: the end model's uncertainty, computed
  with scikit-activeml's ``uncertainty_scores``;
- ``lf_conflict``: entropy of the LFs' non-abstain votes (posts no LF covers come next);
- ``disagreement``: total-variation distance between label-model and end-model probabilities;
- ``random``: the baseline, never wrapped (it must stay an unbiased reference).

How a scored strategy turns scores into an order (``[active_learning] acquisition``):

- ``power`` (default): :class:`PowerSampling`, posts drawn without replacement with probability
  proportional to ``score ** beta`` (Kirsch et al., "Stochastic Batch Acquisition", TMLR 2023);
- ``top``: highest score first.

Wrappers:

- :class:`ClusterHeads`: the base's ``batch_size * candidates_per_cluster`` best posts are
  clustered (k-means on the model's features, ``batch_size`` clusters) and the best post of
  each cluster forms the batch; the strategy ``diverse`` is ``ClusterHeads(entropy)``;
- :class:`ColdStart`: while the pool holds no golden label, the LFs' majority classes are
  interleaved (round-robin) so the first batch shows every class, each class best score first
  (power acquisition starts with the second batch);
- :class:`DistinctBatch`: a batch never holds two posts whose model features (TF-IDF vector and
  sentence embedding, or BiLSTM state) have a cosine similarity of ``duplicate_similarity`` or more; the skipped
  near-duplicates follow the batch (labeling one teaches the model the other).

:func:`build_strategy` is the one place that composes them; :func:`rank_pool` turns the
composed strategy's ranking into queue rows.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from skactiveml.pool import uncertainty_scores
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD

from labeling.label_matrix import ABSTAIN, majority_vote
from models.params import ActiveParams, normalize_strategy

SVD_DIMS = 32

Embed = Callable[[list[str]], np.ndarray]
"""Texts -> the end model's features (one row per text), e.g. ``TextClassifier.embed``."""


@dataclass
class Pool:
    """Unlabeled posts with what the strategies need (rows aligned with ``ids``)."""

    ids: list[str]
    texts: list[str]
    end_probs: np.ndarray            # (n, k) end-model probabilities
    label_probs: np.ndarray | None   # (n, k) label-model probabilities, when known
    votes: np.ndarray                # (n, m) LF votes, -1 = abstain
    labels: list[str]


@dataclass(frozen=True)
class Scores:
    """Per pool row: how useful labeling it is (higher = sooner; NaN = unscored) and why, for people."""

    values: np.ndarray
    reasons: list[str]


@dataclass(frozen=True)
class Ranking:
    """A strategy's answer: pool rows, most useful first, with the scores behind the order.

    Scores stay indexed by pool row (not by rank) so a wrapper can re-order without
    re-aligning them.
    """

    order: np.ndarray
    scores: Scores


class QueryStrategy(Protocol):
    """Anything that ranks a pool; ``rng`` breaks ties and drives random choices, so a seed
    reproduces a ranking."""

    def rank(self, pool: Pool, rng: np.random.Generator) -> Ranking: ...


class ScoreStrategy(ABC):
    """A base strategy that scores each post on its own and ranks by score."""

    @abstractmethod
    def score(self, pool: Pool) -> Scores:
        """Each post's usefulness and the reason shown in the tagger."""

    def rank(self, pool: Pool, rng: np.random.Generator) -> Ranking:
        """Best score first; equal scores (e.g. posts no LF votes on) come in random, not file, order."""
        scores = self.score(pool)
        tiebreak = rng.permutation(len(pool.ids))
        return Ranking(np.lexsort((tiebreak, -scores.values)), scores)


@dataclass(frozen=True)
class Uncertainty(ScoreStrategy):
    """The end model's uncertainty by a scikit-activeml ``method`` (``entropy``, ``margin_sampling``)."""

    method: str

    def score(self, pool: Pool) -> Scores:
        best = pool.end_probs.argmax(1)
        return Scores(uncertainty_scores(pool.end_probs, method=self.method),
                      [f"model unsure: {pool.labels[b]} {pool.end_probs[i, b]:.2f}" for i, b in enumerate(best)])


def _vote_counts(votes: np.ndarray, k: int) -> np.ndarray:
    return np.stack([(votes == c).sum(axis=1) for c in range(k)], axis=1) if votes.size else np.zeros((len(votes), k))


class LFConflict(ScoreStrategy):
    """Entropy of the LFs' non-abstain votes: where LFs disagree, a label settles the conflict."""

    def score(self, pool: Pool) -> Scores:
        counts = _vote_counts(pool.votes, len(pool.labels))
        total = counts.sum(axis=1)
        dist = np.divide(counts, total[:, None], out=np.full(counts.shape, 1 / len(pool.labels)),
                         where=total[:, None] > 0)
        values = np.where(total > 0, uncertainty_scores(dist, method="entropy"), 0.0)
        values = values + np.where(total == 0, 1e-3, 0.0)  # uncovered posts right after the conflicts
        reasons = [("LFs disagree: " + ", ".join(f"{int(c)} {pool.labels[j]}" for j, c in enumerate(row) if c))
                   if (row > 0).sum() > 1 else ("no LF voted" if row.sum() == 0 else "LFs agree")
                   for row in counts]
        return Scores(values, reasons)


class Disagreement(ScoreStrategy):
    """Total-variation distance between label-model and end-model probabilities; the end
    model's entropy when the label model's probabilities are unknown."""

    def score(self, pool: Pool) -> Scores:
        if pool.label_probs is None:
            return Uncertainty("entropy").score(pool)
        values = 0.5 * np.abs(pool.end_probs - pool.label_probs).sum(axis=1)
        lm, em = pool.label_probs.argmax(1), pool.end_probs.argmax(1)
        return Scores(values, [f"label model {pool.labels[a]} vs end model {pool.labels[b]}" for a, b in zip(lm, em)])


@dataclass(frozen=True)
class PowerSampling:
    """A scored strategy's posts in a random order that favours high scores: each draw (without
    replacement) takes a post with probability proportional to ``score ** beta``.

    The top-k posts of a score form a sample unlike the pool: on the airline task, 150 entropy
    picks held 7 positive tweets where the pool holds 16% (docs/benchmarks.md), and models and
    cross-validation fitted on them misjudged the rest of the pool. Drawing in proportion to the
    score keeps the preference for uncertain posts while every post keeps a chance, so a batch
    also spreads over the kinds of posts instead of stacking up one confusing kind. Gumbel top-k
    draws the whole order in one pass; posts scoring 0 come last, in random order.
    """

    base: ScoreStrategy
    beta: float

    def rank(self, pool: Pool, rng: np.random.Generator) -> Ranking:
        scores = self.base.score(pool)
        with np.errstate(divide="ignore"):
            log_scores = np.log(np.clip(scores.values, 0.0, None))
        keys = self.beta * log_scores + rng.gumbel(size=len(pool.ids))
        return Ranking(np.lexsort((rng.permutation(len(pool.ids)), -keys)), scores)


class RandomOrder:
    """The baseline: a seeded random order, unscored."""

    def rank(self, pool: Pool, rng: np.random.Generator) -> Ranking:
        n = len(pool.ids)
        return Ranking(rng.permutation(n), Scores(np.full(n, np.nan), ["random baseline"] * n))


BASE_STRATEGIES: dict[str, QueryStrategy] = {
    "entropy": Uncertainty("entropy"), "margin": Uncertainty("margin_sampling"),
    "lf_conflict": LFConflict(), "disagreement": Disagreement(), "random": RandomOrder(),
}


def _head_first(order: np.ndarray, head: Sequence[int]) -> np.ndarray:
    """``head``, then the rest of ``order`` in its order: what a wrapper passes over stays in
    the queue, right after what it chose."""
    head = [int(i) for i in head]
    chosen = set(head)
    return np.array(head + [int(i) for i in order if i not in chosen], dtype=int)


@dataclass(frozen=True)
class StrategyWrapper(ABC):
    """A strategy that re-orders what ``base`` (any strategy) ranked."""

    base: QueryStrategy

    def rank(self, pool: Pool, rng: np.random.Generator) -> Ranking:
        return self.rerank(pool, self.base.rank(pool, rng))

    @abstractmethod
    def rerank(self, pool: Pool, ranking: Ranking) -> Ranking:
        """The base's ``ranking`` re-ordered (and its reasons amended) by this wrapper."""


@dataclass(frozen=True)
class ClusterHeads(StrategyWrapper):
    """Diversity: the base's best post of each k-means cluster of its top candidates, then the rest.

    Uncertainty alone fills a batch with posts of one confusing kind; one post per cluster
    spreads the batch over the kinds the model is unsure about.
    """

    embed: Embed
    batch_size: int
    candidates: int   # how many of the base's best posts are clustered
    seed: int         # k-means and SVD seed

    def rerank(self, pool: Pool, ranking: Ranking) -> Ranking:
        order = ranking.order
        n_candidates = min(len(order), self.candidates)
        candidates = order[:n_candidates]
        n_clusters = min(self.batch_size, n_candidates)
        if n_clusters < 2:
            return ranking
        features = self.embed([pool.texts[i] for i in candidates])
        if features.shape[1] > SVD_DIMS and n_candidates > SVD_DIMS:
            features = TruncatedSVD(SVD_DIMS, random_state=self.seed).fit_transform(features)
        clusters = KMeans(n_clusters, n_init=1, random_state=self.seed).fit_predict(features)
        heads = [candidates[clusters == c][0] for c in range(n_clusters) if (clusters == c).any()]
        heads = sorted(heads, key=lambda i: -ranking.scores.values[i])
        return Ranking(_head_first(order, heads), ranking.scores)


@dataclass(frozen=True)
class ColdStart(StrategyWrapper):
    """Round-robin over the LFs' majority classes (each class in the base's order) for the
    first ``depth`` posts.

    Without golden labels the end model only echoes the weak labels, and its uncertainty can
    sit in one class; showing every class early gives the next model golden labels of each.
    Posts the LFs leave undecided follow.
    """

    depth: int

    def rerank(self, pool: Pool, ranking: Ranking) -> Ranking:
        vote = majority_vote(pool.votes, len(pool.labels))
        ordered_vote = vote[ranking.order]
        lanes = [list(ranking.order[ordered_vote == c]) for c in range(len(pool.labels))]
        mixed: list[int] = []
        while len(mixed) < self.depth and any(lanes):
            for lane in lanes:
                if lane and len(mixed) < self.depth:
                    mixed.append(lane.pop(0))
        reasons = [f"cold start (LF vote {pool.labels[v]}): {r}" if v != ABSTAIN else r
                   for v, r in zip(vote, ranking.scores.reasons)]
        return Ranking(_head_first(ranking.order, mixed), Scores(ranking.scores.values, reasons))


@dataclass(frozen=True)
class DistinctBatch(StrategyWrapper):
    """The batch takes the base's posts in order, skipping near-duplicates of posts already in
    it (cosine similarity of model features >= ``duplicate_similarity``), looking ``candidates``
    posts deep.

    Near-copies (spam templates, retweets) get the same scores and would sit side by side; a
    batch of them spends several labels on what one label teaches.
    """

    embed: Embed
    batch_size: int
    candidates: int
    duplicate_similarity: float

    def rerank(self, pool: Pool, ranking: Ranking) -> Ranking:
        order = ranking.order
        n_candidates = min(len(order), self.candidates)
        if n_candidates < 2:
            return ranking
        candidates = order[:n_candidates]
        features = np.asarray(self.embed([pool.texts[i] for i in candidates]), dtype="float64")
        features = features / np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        picked: list[int] = []
        for j in range(n_candidates):
            if len(picked) == self.batch_size:
                break
            if not picked or float((features[picked] @ features[j]).max()) < self.duplicate_similarity:
                picked.append(j)
        return Ranking(_head_first(order, candidates[picked]), ranking.scores)


def build_strategy(name: str, params: ActiveParams, *, cold_start: bool, embed: Embed | None = None) -> QueryStrategy:
    """The strategy ``name`` (aliases allowed) composed with the wrappers ``params`` ask for.

    Innermost first: ``power`` acquisition draws the order, except at the cold start;
    ``diverse`` clusters entropy's candidates (with ``embed``); cold start interleaves classes
    when ``cold_start``; near-duplicates are skipped when ``embed`` is given and
    ``duplicate_similarity`` <= 1. ``random`` is never wrapped. Without ``embed``, ``diverse``
    is plain entropy.

    The cold start takes each LF class's posts best score first: the round robin already spreads
    the batch over the classes, which is what power sampling is for later on, and drawing inside
    a class only swapped the weak model's most uncertain posts for near-random ones (pool labels,
    both shared data sets: docs/benchmarks.md, "The cold start's order").
    """
    name = normalize_strategy(name)
    if name == "random":
        return BASE_STRATEGIES[name]
    candidates = params.batch_size * params.candidates_per_cluster
    strategy = BASE_STRATEGIES["entropy" if name == "diverse" else name]
    if params.acquisition == "power" and not cold_start and isinstance(strategy, ScoreStrategy):
        strategy = PowerSampling(strategy, params.beta)
    if name == "diverse" and embed is not None:
        strategy = ClusterHeads(strategy, embed, params.batch_size, candidates, params.seed)
    if cold_start:
        strategy = ColdStart(strategy, params.queue_size)
    if embed is not None and params.duplicate_similarity <= 1:
        strategy = DistinctBatch(strategy, embed, params.batch_size, candidates, params.duplicate_similarity)
    return strategy


def rank_pool(pool: Pool, strategy: str, params: ActiveParams, *, cold_start: bool,
              embed: Embed | None = None, seed: int | None = None) -> pd.DataFrame:
    """Rank the pool for ``strategy``: ``post_id, rank (1 = first), score, reason``, ``queue_size`` rows.

    ``seed`` (default ``params.seed``) seeds tie-breaking and ``random``. An empty pool (every
    post already labeled) ranks to no rows without asking a strategy, since scorers such as
    scikit-activeml's refuse zero samples.
    """
    if not pool.ids:
        return pd.DataFrame({"post_id": pd.Series(dtype=object), "rank": pd.Series(dtype=int),
                             "score": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
    query = build_strategy(strategy, params, cold_start=cold_start, embed=embed)
    ranking = query.rank(pool, np.random.default_rng(params.seed if seed is None else seed))
    head = ranking.order[:params.queue_size]
    values, reasons = ranking.scores.values, ranking.scores.reasons
    return pd.DataFrame({"post_id": [pool.ids[i] for i in head], "rank": np.arange(1, len(head) + 1),
                         "score": [None if np.isnan(values[i]) else float(values[i]) for i in head],
                         "reason": [reasons[i] for i in head]})
