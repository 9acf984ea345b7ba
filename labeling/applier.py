"""Apply a task's labeling functions to posts: the label matrix (``int8``, -1 = abstain).

    applier = TaskApplier(task).fit(lf_frame, golden)  # fits cluster LFs on the LF split
    L = applier.apply(frame)                           # rows x LFs, columns in task order

Keyword and regex LFs run as column operations (:mod:`labeling.compiled`) over chunks of
``chunk_rows`` posts, so memory stays bounded whatever the split size; python LFs run through
Snorkel's ``PandasLFApplier``; cluster LFs predict their nearest cluster's vote in batch
(``representation = "encoder"`` ones read the embedding cache, keyed by the frame's ``id`` column).
:meth:`TaskApplier.snorkel_lfs` gives the same LFs as row-wise Snorkel functions.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from snorkel.labeling import LabelingFunction, PandasLFApplier

from datasets.errors import GoldloopError
from labeling import python_lfs
from labeling.cluster import ClusterLF
from labeling.compiled import CompiledLF
from labeling.fields import SOURCE_COLUMN, column_values
from labeling.label_matrix import ABSTAIN, majority_vote
from labeling.reference import row_lf
from labeling.task import Task

DEFAULT_CHUNK_ROWS = 50_000


def post_ids(frame: pd.DataFrame) -> list[str] | None:
    """The posts' ids (the ``id`` column, as strings), or None when the frame has no complete ids.

    Cluster LFs over sentence embeddings key the workspace embedding cache by them.
    """
    if "id" not in frame.columns or frame["id"].isna().any():
        return None
    return frame["id"].astype(str).tolist()


class TaskApplier:
    """The compiled labeling functions of one task."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.names = task.lf_names
        if not self.names:
            raise GoldloopError(f"{task.path}: the task declares no labeling functions ([[lfs]] entries)")
        self.compiled: dict[int, CompiledLF] = {}
        self.clusters: dict[int, ClusterLF] = {}
        self.python: dict[int, LabelingFunction] = {}
        for j, spec in enumerate(task.lfs):
            if spec.kind in ("keyword", "regex"):
                self.compiled[j] = CompiledLF(spec)
            elif spec.kind == "cluster":
                self.clusters[j] = ClusterLF(spec)
            else:
                self.python[j] = python_lfs.resolve(spec, str(task.path))
        self.fitted = not self.clusters

    @property
    def input_columns(self) -> tuple[str, ...] | None:
        """The split columns the LFs read (with ``id``), or None when a Python LF may read any:
        an engine that moves rows between processes sends only these."""
        if self.python:
            return None
        fields = [spec.field for spec in self.task.lfs]
        return ("id", *dict.fromkeys(SOURCE_COLUMN[f] for f in fields))

    def fit(self, frame: pd.DataFrame, golden: np.ndarray | None = None) -> TaskApplier:
        """Fit the cluster LFs on the LF split ``frame`` (``golden``: label index per row, -1 = none)."""
        if self.clusters:
            base = self._apply_chunk(frame, clusters=False)
            others = [j for j in range(len(self.names)) if j not in self.clusters]
            votes = majority_vote(base[:, others], len(self.task.labels))
            for lf in self.clusters.values():
                texts = column_values(frame, lf.field).to_pylist()
                use_golden = golden is not None and int((np.asarray(golden) >= 0).sum()) >= lf.params["min_golden"]
                lf.fit(texts, np.asarray(golden) if use_golden else votes, "golden" if use_golden else "lfs",
                       ids=post_ids(frame))
        self.fitted = True
        return self

    def apply(self, frame: pd.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> np.ndarray:
        """Label matrix of ``frame``, computed ``chunk_rows`` rows at a time."""
        parts = [self._apply_chunk(frame.iloc[start:start + chunk_rows])
                 for start in range(0, len(frame), chunk_rows)]
        return np.vstack(parts) if parts else np.zeros((0, len(self.names)), dtype=np.int8)

    def apply_batches(self, frames: Iterable[pd.DataFrame]) -> Iterator[np.ndarray]:
        """Label matrices of a stream of chunks (e.g. Parquet record batches)."""
        for frame in frames:
            yield self._apply_chunk(frame)

    def _apply_chunk(self, frame: pd.DataFrame, clusters: bool = True) -> np.ndarray:
        if not self.fitted and clusters:
            raise GoldloopError(f"{self.task.path}: cluster LFs must be fitted on the LF split before applying")
        L = np.full((len(frame), len(self.names)), ABSTAIN, dtype=np.int8)
        fields: dict[str, object] = {}
        for j, lf in self.compiled.items():
            if lf.field not in fields:
                fields[lf.field] = column_values(frame, lf.field)
            L[:, j] = lf(fields[lf.field])
        if clusters:
            ids = post_ids(frame) if self.clusters else None
            for j, lf in self.clusters.items():
                L[:, j] = lf.predict(column_values(frame, lf.field).to_pylist(), ids=ids)
        if self.python and len(frame):
            columns = list(self.python)
            votes = PandasLFApplier([self.python[j] for j in columns]).apply(frame, progress_bar=False)
            bad = (votes < ABSTAIN) | (votes >= len(self.task.labels))
            if bad.any():
                j = columns[int(np.flatnonzero(bad.any(axis=0))[0])]
                raise GoldloopError(f"{self.task.path}: LF {self.names[j]!r} returned {int(votes[bad][0])}; "
                                    f"python LFs must return -1 or a label index 0..{len(self.task.labels) - 1}")
            L[:, columns] = votes.astype(np.int8)
        return L

    def snorkel_lfs(self) -> list[LabelingFunction]:
        """The same LFs as row-wise Snorkel ``LabelingFunction`` objects, in column order."""
        lfs = []
        for j, spec in enumerate(self.task.lfs):
            if j in self.python:
                lfs.append(self.python[j])
            elif j in self.clusters:
                model = self.clusters[j]
                lfs.append(row_lf(spec, lambda value, model=model: int(model.predict([value])[0])))
            else:
                lfs.append(row_lf(spec))
        return lfs
