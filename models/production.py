"""The production model of a task, loaded for serving: what the predict API and batch
classification call.

    model = load_production(engine, task)          # the run the registry says is in production
    probs = model.predict_proba(["check out my channel"])   # (n, k), columns in model.labels order
    production_event_id(engine, task)              # changes when a model is promoted or rolled back

Models that take LF votes as input features need the votes of every new text: the task's
labeling functions are compiled once at load time (cluster LFs fitted on the LF split of the
run's data-set version, with its golden LF-split labels, as ``bin/label.sh`` does) and applied
to each request's texts. Such a model refuses to load when the task file changed since it was
trained, since its vote columns would no longer mean the same LFs.

Prediction runs the Keras model as one ``tf.function`` traced once for any batch size, not
``model.predict`` (which builds a data pipeline per call: ~140 ms for one text) nor an eager
call (~6 ms): ~0.5 ms for one text, ~2.7 ms for 256 with the TF-IDF model (docs/benchmarks.md).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf
from sqlalchemy.engine import Connection, Engine

from datasets.errors import GoldloopError
from datasets.split_files import SCHEMA, read_split
from datasets.store import registry, runs
from datasets.store.golden import version_labels
from labeling.applier import TaskApplier
from labeling.task import Task
from models import encoder
from models.classifier import TextClassifier
from models.features import Posts, string_tensor
from models.figures import run_metrics

#: Empty values of the split columns a new text has none of (LFs may read hashtags, urls, ...).
_LIST_COLUMNS = ("hashtags", "mentions", "urls", "media_urls")


@dataclass(frozen=True)
class ProductionModel:
    """A trained run loaded for prediction, with the registry event that put it in production.

    ``metrics`` are the run's golden test metrics (``n``, ``accuracy``, ``macro_f1``, ...): those
    of the promotion comparison, else of its latest ``bin/evaluate.sh`` run, else empty.
    """

    task: Task
    run_id: int
    labels: list[str]
    version: int
    event_id: int
    classifier: TextClassifier
    metrics: dict[str, Any]
    compiled: Callable[[Any], tf.Tensor] = field(repr=False, compare=False)  # see compiled_call
    applier: TaskApplier | None = field(default=None, repr=False, compare=False)  # models on LF votes

    def predict_proba(self, texts: Sequence[str], ids: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities ``(n, k)`` of ``texts`` in ``labels`` order.

        ``ids`` (post ids of the store) let sentence embeddings come from the workspace cache,
        which is keyed by (id, text); without them texts are encoded afresh.
        """
        texts = [str(t) for t in texts]
        if not texts:
            return np.zeros((0, len(self.labels)), "float32")
        ids = None if ids is None else [str(i) for i in ids]
        return np.asarray(self.compiled(self._inputs(texts, ids)), dtype="float32")

    def _inputs(self, texts: list[str], ids: list[str] | None) -> Any:
        """What the Keras model takes, as tensors (a direct call refuses NumPy arrays). Built here rather than by ``FeatureSpace.keras_feed``,
        whose in-memory embedding memo would grow with every distinct text a server sees."""
        space = self.classifier.space
        if space is None:  # bilstm: raw strings
            return string_tensor(texts)
        feed: dict[str, Any] = {}
        if "tfidf" in space.blocks:
            feed["text"] = string_tensor(texts)
        if "encoder" in space.blocks:
            feed["embedding"] = tf.constant(encoder.embed(ids, texts, space.encoder_name) if ids is not None
                                            else encoder.encode(texts, space.encoder_name))
        if space.lf_features:
            votes = self.applier.apply(new_posts_frame(texts, ids)).astype(np.int16)  # type: ignore[union-attr]
            feed["lf_votes"] = tf.constant(space.votes_block(Posts(texts=texts, votes=votes)).toarray())
        return feed


def compiled_call(classifier: TextClassifier) -> Callable[[Any], tf.Tensor]:
    """The classifier's Keras model as a ``tf.function`` over batches of any size (one trace)."""
    model = classifier.model
    specs = {name: tf.TensorSpec(t.shape, t.dtype, name=name) for name, t in model.input.items()} \
        if isinstance(model.input, dict) else tf.TensorSpec(model.input.shape, model.input.dtype)  # type: ignore[union-attr]
    return tf.function(lambda inputs: model(inputs, training=False), input_signature=[specs])  # type: ignore[misc]


def new_posts_frame(texts: list[str], ids: list[str] | None) -> pd.DataFrame:
    """New posts as the splits' parquet rows (``SCHEMA``): id and text, the other fields empty."""
    n = len(texts)
    frame = pd.DataFrame({name: [None] * n for name in SCHEMA.names})
    frame["id"] = ids if ids is not None else [None] * n
    frame["text"] = texts
    frame["is_retweet"] = False
    for column in _LIST_COLUMNS:
        frame[column] = [[] for _ in range(n)]
    return frame


def fitted_applier(engine: Engine, task: Task, version: int) -> TaskApplier:
    """The task's LFs, cluster LFs fitted on the LF split of ``version`` as ``bin/label.sh`` fits them."""
    applier = TaskApplier(task)
    if not applier.fitted:
        with engine.connect() as conn:
            golden = {g.post_id: task.labels.index(g.label) for g in version_labels(conn, task.name, version)
                      if g.label in task.labels}
        lf_frame = read_split(version, "lf")
        applier.fit(lf_frame, np.array([golden.get(i, -1) for i in lf_frame["id"]], dtype=np.int64))
    return applier


def trained_run(conn: Connection, task: Task, run_id: int) -> dict[str, Any]:
    """Train run ``run_id`` of ``task`` whose saved model exists; an error naming what is wrong."""
    run = runs.get(conn, run_id)
    if run is None:
        raise GoldloopError(f"run {run_id} does not exist")
    if run["kind"] != "train":
        raise GoldloopError(f"run {run_id} is a {run['kind']} run, not a train run: only trained models can be served")
    if run["task"] != task.name:
        raise GoldloopError(f"run {run_id} belongs to task {run['task']!r}, not {task.name!r}")
    if not run["model_path"] or not Path(run["model_path"]).exists():
        raise GoldloopError(f"run {run_id}: its model directory {run['model_path']} is missing")
    return run


def load_run(engine: Engine, task: Task, run_id: int, *, event_id: int = 0,
             metrics: dict[str, Any] | None = None) -> ProductionModel:
    """Load train run ``run_id`` of ``task`` for prediction (see the module docstring)."""
    with engine.connect() as conn:
        run = trained_run(conn, task, run_id)
    classifier = TextClassifier.load(Path(run["model_path"]))
    if classifier.labels != task.labels:
        raise GoldloopError(f"run {run_id} predicts labels {classifier.labels}, but {task.path} declares {task.labels}")
    applier = None
    if classifier.params.lf_features:
        if run["task_hash"] != task.sha256:
            raise GoldloopError(f"run {run_id} uses LF votes as features, but {task.path} changed since it was trained"
                                f" (sha256 {task.sha256[:12]}, run's {run['task_hash'][:12]}): its LF columns would"
                                " not match; train and promote a new model")
        applier = fitted_applier(engine, task, int(run["version"]))
    model = ProductionModel(task=task, run_id=int(run_id), labels=list(task.labels), version=int(run["version"]),
                            event_id=event_id, classifier=classifier, metrics=metrics or {}, applier=applier,
                            compiled=compiled_call(classifier))
    model.predict_proba(["warm-up"])  # trace the tf.function and open the encoder now, not in the first request
    return model


def load_production(engine: Engine, task: Task) -> ProductionModel:
    """The task's production model, with its golden test metrics and the event that set it."""
    with engine.connect() as conn:
        event = registry.latest_event(conn, task.name)
        if event is None:
            raise GoldloopError(f"no production model for task {task.name}: "
                                "promote a trained run with bin/model.sh promote RUN")
        metrics = run_metrics(conn, task.name, event.run_id)
    return load_run(engine, task, event.run_id, event_id=event.id, metrics=metrics)


def production_event_id(engine: Engine, task: Task) -> int | None:
    """Id of the task's newest registry event (None when there is none): a new value means a
    different production model; one index look-up, cheap enough to ask every second."""
    with engine.connect() as conn:
        return registry.latest_event_id(conn, task.name)
