"""What the loop reads: split texts, weak labels, golden labels and LF votes of one version.

Weak labels come from the weak-supervision step (``<version dir>/<task>/<split>_weak.parquet``
with ``id, text, prob_<label>..., label, covered``); golden labels from the ``golden_labels``
view (conflicts and unresolved items excluded); LF votes from the task's latest ``lf_runs`` row
for the version.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from datasets.errors import GoldloopError
from datasets.split_files import read_split
from datasets.store import golden, predictions, votes
from labeling.task import Task
from labeling.weak_labels import weak_path
from models.features import Posts


def prob_columns(task: Task) -> list[str]:
    """Probability column names of a weak-label export, in label order."""
    return [f"prob_{label}" for label in task.labels]


def read_texts(version: int, splits: Sequence[str]) -> pd.DataFrame:
    """``id, text, split`` of every post in ``splits`` of ``version``."""
    frames = [read_split(version, s)[["id", "text", "split"]] for s in splits]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["id", "text", "split"])


def read_weak(version: int, task: Task, splits: Sequence[str]) -> pd.DataFrame:
    """Weak labels of ``splits``: ``id, text, split, covered`` and the probability columns."""
    frames = []
    for split in splits:
        path = weak_path(version, task.name, split)
        if not path.exists():
            raise GoldloopError(f"{path}: no weak labels for split {split!r}; run bin/label.sh --task {task.path}")
        frame = pd.read_parquet(path)
        missing = {"id", "text", "covered", *prob_columns(task)} - set(frame.columns)
        if missing:
            raise GoldloopError(f"{path}: missing columns {sorted(missing)}")
        frames.append(frame[["id", "text", "covered", *prob_columns(task)]].assign(split=split))
    return pd.concat(frames, ignore_index=True)


def golden_labels(engine: Engine, task: Task, version: int) -> pd.DataFrame:
    """Golden labels of the task's posts in ``version``: ``id, split, label, y`` (y = class index)."""
    with engine.connect() as conn:
        rows = golden.version_labels(conn, task.name, version)
    frame = pd.DataFrame(rows, columns=["id", "label", "split"])[["id", "split", "label"]]
    unknown = sorted(set(frame["label"]) - set(task.labels))
    if unknown:
        raise GoldloopError(f"golden labels of task {task.name!r} use labels {unknown} not in {task.path}")
    return frame.assign(y=frame["label"].map(task.labels.index).astype(int))


@dataclass(frozen=True)
class LFVotes:
    """The label matrix of one LF run: ``matrix[i, j]`` = vote of LF ``j`` on post ``ids[i]``."""

    run_id: int | None
    lf_names: list[str]
    ids: np.ndarray
    matrix: np.ndarray

    def for_ids(self, ids: Sequence[str]) -> np.ndarray:
        """Rows for ``ids`` in that order; posts without votes get all -1 (abstain)."""
        index = pd.Index(self.ids)
        pos = index.get_indexer(pd.Index(ids))
        out = np.full((len(ids), len(self.lf_names)), -1, dtype=np.int16)
        found = pos >= 0
        out[found] = self.matrix[pos[found]]
        return out


def lf_votes(engine: Engine, task: Task, version: int, run_id: int | None = None) -> LFVotes:
    """LF votes of ``run_id`` (default: the latest LF run on ``version``); empty when there is none."""
    with engine.connect() as conn:
        if run_id is None:
            latest = votes.latest_run(conn, task.name, version)
            if latest is None:
                return LFVotes(None, [], np.array([], dtype=object), np.zeros((0, 0), dtype=np.int16))
            run_id = latest["id"]
        stored = votes.run_votes(conn, int(run_id))
    return LFVotes(int(run_id), stored.lf_names, np.array(stored.post_ids, dtype=object),
                  stored.matrix.astype(np.int16))


def label_model_probs(engine: Engine, task: Task, ids: Sequence[str]) -> np.ndarray | None:
    """The label model's class probabilities for ``ids`` from ``predictions`` (NaN rows for posts
    it has no prediction for, i.e. no LF voted); None when it has none at all."""
    with engine.connect() as conn:
        found = predictions.of_posts(conn, task.name, "label_model", ids)
    if not found:
        return None
    return np.array([[float(found[i]["probs"].get(label, 0.0)) for label in task.labels] if i in found
                     else [np.nan] * len(task.labels) for i in ids])


def posts(frame: pd.DataFrame, votes: LFVotes | None = None) -> Posts:
    """The ``id, text`` rows of ``frame`` as model inputs, with their LF votes when ``votes``
    holds any (models that use LF votes as features need them)."""
    ids = frame["id"].astype(str).tolist()
    return Posts(texts=frame["text"].tolist(), ids=ids,
                 votes=votes.for_ids(ids) if votes is not None and votes.lf_names else None)
