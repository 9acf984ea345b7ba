"""Write the queues the tagger serves: the active-learning queue and the label-review queue.

Label review checks golden labels of the test split only: the end model never trains on them,
so its probabilities there are out of sample, as confident learning requires (golden training
labels, dev included, are fitted by the model and would hide their own errors).

A queue is one ``queues`` row plus its ranked ``queue_items``; the tagger serves the latest
queue of each kind. Writing a queue is one transaction.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from datasets.errors import GoldloopError
from datasets.store import queues as queue_store
from labeling.task import Task
from models import data
from models.active import Pool, rank_pool
from models.classifier import TextClassifier
from models.features import Posts
from models.params import ActiveParams

REVIEW_STRATEGY = "confident_learning"


def write_queue(engine: Engine, task: Task, kind: str, strategy: str, version: int, items: pd.DataFrame,
                params: dict[str, Any]) -> int:
    """Write a queue and its items (``post_id, rank, score, reason``) in a transaction of its
    own; return the queue id."""
    rows = items[["post_id", "rank", "score", "reason"]].itertuples(index=False, name=None)
    with engine.begin() as conn:
        return queue_store.write(conn, task=task.name, kind=kind, strategy=strategy, version=version,
                                 params=params, items=rows)


def review_items(task: Task, golden: pd.DataFrame, probs: np.ndarray, min_per_class: int) -> tuple[pd.DataFrame, str | None]:
    """Golden labels the model confidently contradicts, ranked (cleanlab's confident learning).

    ``golden`` holds ``id, y`` of golden labels the model never trained on (so ``probs`` are
    out-of-sample). Returns the items and, when review is impossible, the reason why.
    """
    from cleanlab.filter import find_label_issues

    empty = pd.DataFrame(columns=["post_id", "rank", "score", "reason"])
    y = golden["y"].to_numpy(int)
    counts = np.bincount(y, minlength=len(task.labels))
    if len(y) == 0 or counts.min() < min_per_class:
        return empty, (f"label review needs at least {min_per_class} out-of-sample golden labels per class;"
                       f" have {dict(zip(task.labels, counts.tolist()))}")
    issues = find_label_issues(labels=y, pred_probs=probs, return_indices_ranked_by="self_confidence")
    rows = [{"post_id": golden["id"].iloc[i], "rank": r + 1, "score": float(1 - probs[i, y[i]]),
             "reason": f"golden '{task.labels[y[i]]}' but model says '{task.labels[probs[i].argmax()]}' "
                       f"({probs[i].max():.2f})"} for r, i in enumerate(issues)]
    return (pd.DataFrame(rows) if rows else empty), None


def end_probs(clf: TextClassifier, posts: Posts, known: pd.DataFrame | None) -> np.ndarray:
    """End-model probabilities of ``posts``: rows of ``known`` (indexed by post id, one column
    per label, e.g. what :func:`models.train.train` just predicted) when it holds them all,
    otherwise predicted."""
    if known is not None:
        rows = known.reindex(posts.ids).to_numpy("float32")
        if not np.isnan(rows).any():
            return rows
    return clf.predict_proba(posts)


def build_pool(engine: Engine, task: Task, version: int, params: ActiveParams, clf: TextClassifier,
               golden: pd.DataFrame, known: pd.DataFrame | None = None) -> Pool:
    """The unlabeled posts of the pool splits with end-model, label-model and LF-vote inputs."""
    posts = data.read_texts(version, params.pool_splits)
    posts = posts[~posts["id"].isin(golden["id"])].reset_index(drop=True)
    ids = posts["id"].tolist()
    try:
        weak = data.read_weak(version, task, params.pool_splits).set_index("id")
        label_probs = weak.reindex(ids)[data.prob_columns(task)].to_numpy()
        label_probs = None if np.isnan(label_probs).any() else label_probs
    except GoldloopError:
        label_probs = None
    inputs = data.posts(posts, data.lf_votes(engine, task, version))
    return Pool(ids=ids, texts=inputs.texts, end_probs=end_probs(clf, inputs, known), label_probs=label_probs,
                votes=inputs.vote_matrix(),
                labels=task.labels)


def refresh_queues(engine: Engine, task: Task, version: int, clf: TextClassifier, params: ActiveParams,
                   *, run_id: int | None = None, predictions: pd.DataFrame | None = None) -> dict[str, Any]:
    """Write a new active-learning queue and a new label-review queue; return their summary.

    ``predictions`` (post id -> class probabilities of ``clf``) spares predicting posts again.
    """
    golden = data.golden_labels(engine, task, version)
    pool = build_pool(engine, task, version, params, clf, golden, predictions)
    cold = not golden["split"].isin(params.pool_splits).any()
    items = rank_pool(pool, params.strategy, params, cold_start=cold, embed=clf.embed)
    common = {"run_id": run_id, "batch_size": params.batch_size, "pool_splits": params.pool_splits}
    active_id = write_queue(engine, task, "active", params.strategy, version, items,
                            {**common, "cold_start": cold, "pool": len(pool.ids)})
    held_out = golden[golden["split"] == "test"].merge(data.read_texts(version, ["test"])[["id", "text"]], on="id")
    probs = end_probs(clf, data.posts(held_out, data.lf_votes(engine, task, version)), predictions)
    review, why_not = review_items(task, held_out, probs, params.review_threshold)
    review_id = write_queue(engine, task, "review", REVIEW_STRATEGY, version, review,
                            {**common, "checked": len(held_out), "skipped": why_not})
    return {"active": {"queue_id": active_id, "strategy": params.strategy, "items": len(items), "cold_start": cold,
                       "pool": len(pool.ids)},
            "review": {"queue_id": review_id, "items": len(review), "checked": len(held_out), "skipped": why_not}}
