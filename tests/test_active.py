"""Active-learning strategies on hand-made pools, and the queues written for the tagger."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from models.active import (ClusterHeads, ColdStart, DistinctBatch, Pool, PowerSampling, RandomOrder, Ranking,
                           Scores, Uncertainty, build_strategy, rank_pool)
from models.params import STRATEGIES, ActiveParams
from models.tagger_queues import refresh_queues
from models.train import train
from models.params import active_params, train_params
from tests.support.world import add_golden, make_world

LABELS = ["ham", "spam"]


def _pool(n: int = 40) -> Pool:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.0, 1.0, n)
    p[7], p[13] = 0.5, 0.49  # the two most uncertain posts
    votes = np.full((n, 3), -1, dtype=np.int16)
    votes[: n // 2, 0] = 1            # first half: spam by LF 0
    votes[n // 2:, 1] = 0             # second half: ham by LF 1
    votes[21, 2] = 1                  # one conflict: ham by LF 1, spam by LF 2
    label_probs = np.column_stack([1 - p, p])
    label_probs[30] = [0.0, 1.0]      # strong label-model / end-model disagreement (p[30] is low)
    p[30] = 0.02
    return Pool(ids=[f"q{i}" for i in range(n)], texts=[f"text {i}" for i in range(n)],
                end_probs=np.column_stack([1 - p, p]), label_probs=label_probs, votes=votes, labels=LABELS)


def test_uncertainty_strategies_put_the_least_confident_first():
    params = ActiveParams(batch_size=2, queue_size=10, acquisition="top")
    for strategy in ("entropy", "margin"):
        ranked = rank_pool(_pool(), strategy, params, cold_start=False)
        assert ranked["post_id"].tolist()[:2] == ["q7", "q13"]
        assert ranked["rank"].tolist() == list(range(1, 11))
        assert ranked["score"].is_monotonic_decreasing


def test_lf_conflict_and_disagreement():
    params = ActiveParams(queue_size=5, acquisition="top")
    conflict = rank_pool(_pool(), "lf_conflict", params, cold_start=False)
    assert conflict["post_id"].iloc[0] == "q21" and "disagree" in conflict["reason"].iloc[0]
    disagreement = rank_pool(_pool(), "disagreement", params, cold_start=False)
    assert disagreement["post_id"].iloc[0] == "q30"


def test_random_is_seeded_and_unscored():
    a = rank_pool(_pool(), "random", ActiveParams(queue_size=10), cold_start=True, seed=3)
    b = rank_pool(_pool(), "random", ActiveParams(queue_size=10), cold_start=True, seed=3)
    c = rank_pool(_pool(), "random", ActiveParams(queue_size=10), cold_start=True, seed=4)
    assert a.equals(b) and not a["post_id"].equals(c["post_id"]) and a["score"].isna().all()


def test_cold_start_shows_both_classes_first():
    ranked = rank_pool(_pool(), "entropy", ActiveParams(queue_size=6), cold_start=True)
    votes = _pool().votes
    first = [int(s[1:]) for s in ranked["post_id"].head(4)]
    lf_class = ["spam" if votes[i, 0] == 1 else "ham" for i in first]
    assert set(lf_class[:2]) == {"ham", "spam"} and lf_class.count("spam") == 2
    assert ranked["reason"].str.startswith("cold start").all()
    # within a class the most uncertain posts come first, whatever the seed (no power draw yet)
    for seed in range(4):
        again = rank_pool(_pool(), "entropy", ActiveParams(queue_size=6), cold_start=True, seed=seed)
        spam_lane = [post for post in again["post_id"].head(4) if int(post[1:]) < 20]
        assert spam_lane == ["q7", "q13"]


def test_diverse_batch_takes_one_post_per_cluster():
    pool = _pool()
    p = np.full(len(pool.ids), 0.45)           # everything equally uncertain...
    p[:4] = [0.5, 0.499, 0.498, 0.497]         # ...but four near-duplicates are the most uncertain
    pool.end_probs = np.column_stack([1 - p, p])
    centers = np.repeat(np.eye(4), 10, axis=0)  # posts 0-3 share cluster 0; others spread over 4 clusters
    centers[:4] = [1, 0, 0, 0]
    embed = lambda texts: centers[[int(t.split()[1]) for t in texts]] + 0.01 * np.arange(len(texts))[:, None]
    params = ActiveParams(batch_size=4, candidates_per_cluster=10, queue_size=8, acquisition="top")
    plain = rank_pool(pool, "entropy", params, cold_start=False)
    diverse = rank_pool(pool, "diverse", params, cold_start=False, embed=embed)
    assert plain["post_id"].head(4).tolist() == ["q0", "q1", "q2", "q3"]
    head = diverse["post_id"].head(4).tolist()
    assert head[0] == "q0" and len({int(s[1:]) // 10 for s in head}) == 4  # one per cluster


def test_refresh_writes_active_and_review_queues(engine, tmp_path: Path):
    world = make_world(engine, tmp_path)
    test = world.truth[world.truth["split"] == "test"].copy()
    covered = test["text"].str.contains("channel|love")  # posts the model learned confidently
    flipped = test.loc[covered, "id"].iloc[:2].tolist()
    test.loc[test["id"].isin(flipped), "label"] = test.loc[test["id"].isin(flipped), "label"].map(
        {"ham": "spam", "spam": "ham"})
    add_golden(engine, world.task, test)
    _, clf, predictions = train(world.task, world.version, engine, train_params(world.task), progress=False)
    params = active_params(world.task)
    result = refresh_queues(engine, world.task, world.version, clf, params)
    assert result["active"]["cold_start"] is True and result["active"]["items"] == params.queue_size
    with engine.connect() as conn:
        queue = conn.execute(sa.text("SELECT kind, strategy FROM queues WHERE id = :i"),
                             {"i": result["active"]["queue_id"]}).one()
        items = pd.read_sql(sa.text("SELECT q.post_id, q.rank, m.split FROM queue_items q JOIN split_members m"
                                    " ON m.post_id = q.post_id WHERE queue_id = :i ORDER BY rank"),
                            conn, params={"i": result["active"]["queue_id"]})
        review = pd.read_sql(sa.text("SELECT post_id, reason FROM queue_items WHERE queue_id = :i ORDER BY rank"),
                             conn, params={"i": result["review"]["queue_id"]})
    assert tuple(queue) == ("active", "entropy")
    assert set(items["split"]) <= {"lf", "train"} and items["rank"].tolist() == list(range(1, len(items) + 1))
    truth = world.truth.set_index("id")["label"]
    assert set(truth[items["post_id"].head(4)]) == {"ham", "spam"}  # cold start: both classes early
    assert set(flipped) <= set(review["post_id"])  # the wrong golden labels are up for review
    assert review["reason"].str.contains("model says").all()
    # once the pool has golden labels, no cold start and the labeled posts leave the pool
    pool_labels = world.truth[world.truth["split"] == "train"].head(6)
    add_golden(engine, world.task, pool_labels)
    again = refresh_queues(engine, world.task, world.version, clf, params)
    assert again["active"]["cold_start"] is False and again["active"]["pool"] == result["active"]["pool"] - 6
    # the training stage's predictions give the same queues as predicting the pool again
    reused = refresh_queues(engine, world.task, world.version, clf, params, predictions=predictions)
    with engine.connect() as conn:
        ranked = [conn.execute(sa.text("SELECT post_id FROM queue_items WHERE queue_id = :i ORDER BY rank"),
                               {"i": r[kind]["queue_id"]}).scalars().all()
                  for r in (again, reused) for kind in ("active", "review")]
    assert ranked[0] == ranked[2] and ranked[1] == ranked[3] and len(ranked[0]) == params.queue_size


def test_batch_skips_near_duplicates():
    pool = _pool()
    p = np.full(len(pool.ids), 0.3)
    p[:4] = [0.5, 0.499, 0.498, 0.497]          # the four most uncertain posts...
    pool.end_probs = np.column_stack([1 - p, p])
    features = np.eye(len(pool.ids))
    features[1] = features[0] + 0.01           # ...but q1 is a near-copy of q0
    embed = lambda texts: features[[int(t.split()[1]) for t in texts]]
    params = ActiveParams(batch_size=3, queue_size=6, acquisition="top")
    ranked = rank_pool(pool, "entropy", params, cold_start=False, embed=embed)
    assert ranked["post_id"].head(3).tolist() == ["q0", "q2", "q3"] and ranked["post_id"].iloc[3] == "q1"
    off = rank_pool(pool, "entropy", ActiveParams(batch_size=3, queue_size=6, duplicate_similarity=1.01,
                                                  acquisition="top"),
                    cold_start=False, embed=embed)
    assert off["post_id"].head(3).tolist() == ["q0", "q1", "q2"]


class FixedOrder:
    """A stand-in base strategy, blind to the pool's contents: the rows ``head``, then the
    other rows by index."""

    def __init__(self, head: list[int]):
        self.head = head

    def rank(self, pool: Pool, rng: np.random.Generator) -> Ranking:
        order = np.array(self.head + [i for i in range(len(pool.ids)) if i not in self.head])
        values = np.zeros(len(pool.ids))
        values[order] = -np.arange(len(order), dtype=float)
        return Ranking(order, Scores(values, ["fixed"] * len(pool.ids)))


def _ranked_ids(strategy, pool: Pool) -> list[int]:
    return strategy.rank(pool, np.random.default_rng(0)).order.tolist()


def test_cold_start_interleaves_classes_over_any_strategy():
    pool = _pool()  # rows 0-19: LF vote spam; 20-39: ham (21 ties, so abstains)
    base = FixedOrder(list(range(39, -1, -1)))  # all ham first
    ranking = ColdStart(base, depth=6).rank(pool, np.random.default_rng(0))
    assert ranking.order[:6].tolist() == [39, 19, 38, 18, 37, 17]
    assert ranking.order[6:].tolist() == [i for i in range(39, -1, -1) if i not in {39, 19, 38, 18, 37, 17}]
    assert ranking.scores.reasons[39] == "cold start (LF vote ham): fixed" and ranking.scores.reasons[21] == "fixed"


def test_distinct_batch_drops_near_duplicates_over_any_strategy():
    pool = _pool()
    features = np.eye(len(pool.ids))
    features[5] = features[9] + 0.01              # q5 is a near-copy of q9
    embed = lambda texts: features[[int(t.split()[1]) for t in texts]]
    base = FixedOrder([9, 5, 2, 30, 1])
    wrapped = DistinctBatch(base, embed, batch_size=3, candidates=10, duplicate_similarity=0.9)
    assert _ranked_ids(wrapped, pool)[:5] == [9, 2, 30, 5, 1]  # q5 waits until after the batch


def test_cluster_heads_takes_one_post_per_cluster_over_any_strategy():
    pool = _pool()
    cluster_of = np.arange(len(pool.ids)) % 4
    embed = lambda texts: (np.eye(4)[cluster_of[[int(t.split()[1]) for t in texts]]]
                           + 0.001 * np.arange(len(texts))[:, None])
    base = FixedOrder([0, 4, 8, 12, 1, 5, 2, 3])  # cluster 0 first
    wrapped = ClusterHeads(base, embed, batch_size=4, candidates=8, seed=0)
    order = _ranked_ids(wrapped, pool)
    assert order[:4] == [0, 1, 2, 3] and order[4:8] == [4, 8, 12, 5]


def test_build_strategy_composes_the_wrappers():
    embed = lambda texts: np.eye(len(texts))
    params = ActiveParams()
    composed = build_strategy("uncertainty", params, cold_start=True, embed=embed)
    assert isinstance(composed, DistinctBatch) and isinstance(composed.base, ColdStart)
    assert composed.base.base == Uncertainty("entropy")   # the cold start takes each class best first
    later = build_strategy("uncertainty", params, cold_start=False, embed=embed)
    assert isinstance(later, DistinctBatch) and later.base == PowerSampling(Uncertainty("entropy"), beta=1.0)
    diverse = build_strategy("diverse", ActiveParams(duplicate_similarity=1.01), cold_start=False, embed=embed)
    assert isinstance(diverse, ClusterHeads) and diverse.base == PowerSampling(Uncertainty("entropy"), beta=1.0)
    top = ActiveParams(acquisition="top")
    assert build_strategy("diverse", top, cold_start=False) == Uncertainty("entropy")  # nothing to cluster on
    assert build_strategy("margin", top, cold_start=False) == Uncertainty("margin_sampling")


def test_power_sampling_draws_in_proportion_to_the_score():
    """Each post's chance of coming first is its score ** beta over the total; a zero score comes last."""
    scores = np.array([4.0, 2.0, 1.0, 1.0, 0.0])
    pool = Pool(ids=[f"q{i}" for i in range(5)], texts=[""] * 5, end_probs=np.zeros((5, 2)), label_probs=None,
                votes=np.zeros((5, 0), dtype=np.int16), labels=LABELS)

    class Fixed(Uncertainty):
        def score(self, pool: Pool) -> Scores:
            return Scores(scores, ["fixed"] * len(scores))

    for beta in (1.0, 2.0):
        strategy = PowerSampling(Fixed("entropy"), beta=beta)
        rng = np.random.default_rng(0)
        orders = np.array([strategy.rank(pool, rng).order for _ in range(4000)])
        first = np.bincount(orders[:, 0], minlength=5) / len(orders)
        expected = scores ** beta / (scores ** beta).sum()
        assert np.abs(first - expected).max() < 0.03, (beta, first, expected)
        assert (orders[:, -1] == 4).all()  # the zero score is never drawn before a positive one
    a, b = (PowerSampling(Fixed("entropy"), 1.0).rank(pool, np.random.default_rng(7)).order for _ in range(2))
    assert a.tolist() == b.tolist()  # a seed reproduces the draw


def test_random_is_never_wrapped():
    embed = lambda texts: np.ones((len(texts), 2))  # every post a near-duplicate of every other
    assert isinstance(build_strategy("random", ActiveParams(), cold_start=True, embed=embed), RandomOrder)
    params = ActiveParams(batch_size=3, queue_size=10)
    wrapped_inputs = rank_pool(_pool(), "random", params, cold_start=True, embed=embed, seed=2)
    plain = rank_pool(_pool(), "random", params, cold_start=False, seed=2)
    assert wrapped_inputs.equals(plain) and (plain["reason"] == "random baseline").all()


def test_an_empty_pool_ranks_to_no_rows_for_every_strategy():
    """Every train post labeled: the loop still writes its (empty) queue instead of failing."""
    empty = Pool(ids=[], texts=[], end_probs=np.zeros((0, 2)), label_probs=None,
                 votes=np.zeros((0, 3), dtype=np.int16), labels=LABELS)
    for strategy in STRATEGIES:
        for cold in (True, False):
            ranked = rank_pool(empty, strategy, ActiveParams(), cold_start=cold, embed=lambda texts: np.eye(len(texts)))
            assert list(ranked.columns) == ["post_id", "rank", "score", "reason"] and ranked.empty, (strategy, cold)
