"""The end model: a Keras 3 text classifier with a scikit-learn style interface.

    clf = TextClassifier(["ham", "spam"], TrainParams())
    clf.fit(texts, targets)            # targets: class indices or a probability matrix
    clf.predict_proba(["check out my channel"])
    clf.save(run_dir)                   # model.keras + saved_model/ (TF Serving) export
    TextClassifier.load(run_dir)

Linear architectures (``tfidf``, ``encoder``, ``tfidf+encoder``, optionally with LF votes as
extra features, see :mod:`models.features`) end in one softmax ``Dense`` layer. Its weights are
the exact optimum of an L2-regularised multinomial logistic regression found by L-BFGS
(scikit-learn): the problem is convex, so the fit converges to the same answer for every seed
and data order, where stochastic gradient steps left learning curves jumping between runs.
The Keras model computes the same features from raw strings (TF-IDF layer inside), the
post's sentence embedding and its LF votes, and is what is saved and served.

``bilstm`` (the original design: Embedding -> bidirectional LSTM -> softmax) is trained end to
end by Keras on strings, with early stopping on golden dev labels.
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from models.features import FeatureSpace, Posts, as_posts, string_tensor  # noqa: E402
from models.params import TrainParams  # noqa: E402
from models.standardize import standardize_post  # noqa: E402

tf.get_logger().setLevel("ERROR")  # no retracing chatter when many small models are trained in one process

MODEL_FILE = "model.keras"
EXPORT_DIR = "saved_model"
META_FILE = "classifier.json"
PREDICT_BATCH = 1024
MAX_ITER = 2000
MISSING_CLASS_BIAS = -30.0  # logit of a class absent from the training targets: probability ~0


def to_targets(y: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices (n,) or probabilities (n, k) -> a float32 probability matrix (n, k)."""
    y = np.asarray(y)
    if y.ndim == 1:
        return keras.utils.to_categorical(y.astype(int), n_classes).astype("float32")
    if y.ndim != 2 or y.shape[1] != n_classes:
        raise ValueError(f"targets must be (n,) class indices or (n, {n_classes}) probabilities, got {y.shape}")
    return y.astype("float32")


def balanced_weights(targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``weights`` times the inverse frequency of each row's most likely class (scikit-learn's
    ``class_weight="balanced"`` on the argmax of soft targets)."""
    hard = targets.argmax(1)
    counts = np.bincount(hard, minlength=targets.shape[1]).astype("float64")
    return (weights * (len(hard) / (targets.shape[1] * np.maximum(counts, 1)))[hard]).astype("float64")


def class_weighted(params: TrainParams, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``weights`` as the fit uses them: :func:`balanced_weights` under ``class_weight = "balanced"``."""
    return balanced_weights(targets, weights) if params.class_weight == "balanced" else weights


def fit_softmax(X: sp.csr_matrix | np.ndarray, targets: np.ndarray, weights: np.ndarray, l2: float,
                scale_rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """The softmax layer minimising ``sum(w * cross-entropy) / S + l2 * |W|^2`` on soft targets.

    ``S`` is the total weight of ``scale_rows`` (a boolean mask; default every row): passing
    the golden rows makes ``l2`` a penalty per unit of golden evidence, so a value chosen on
    golden labels alone means the same once weak rows are added. Soft targets become one
    weighted row per class with non-zero probability (the expected cross-entropy), so
    scikit-learn's L-BFGS logistic regression solves the problem exactly.
    Returns ``(kernel (d, k), bias (k,), iterations)`` for a Keras ``Dense`` layer.
    """
    n_classes = targets.shape[1]
    scale = float(weights[scale_rows].sum()) if scale_rows is not None and scale_rows.any() else float(weights.sum())
    rows, classes = np.nonzero(targets > 1e-6)
    row_weights = weights[rows] * targets[rows, classes]
    kernel = np.zeros((X.shape[1], n_classes), "float32")
    bias = np.full(n_classes, MISSING_CLASS_BIAS, "float32")
    present = np.unique(classes)
    if len(present) < 2:
        bias[present] = 0.0
        return kernel, bias, 0
    c = 1.0 / (2.0 * max(l2, 1e-12) * scale)
    X = X[rows]
    # Columns that are zero on every training row get weight 0 at the optimum (only the penalty
    # acts on them): leaving them out gives the same solution with far fewer variables.
    used = np.flatnonzero(X.getnnz(axis=0)) if sp.issparse(X) else np.arange(X.shape[1])
    # One BLAS/OpenMP thread: next to TensorFlow's and torch's thread pools, multi-threaded BLAS
    # on these small matrices ran the fit about 30 times slower on 2 cores (docs/benchmarks.md).
    with threadpool_limits(limits=1):
        model = LogisticRegression(C=c, max_iter=MAX_ITER).fit(X[:, used], classes, sample_weight=row_weights)
    coef, intercept = model.coef_, model.intercept_
    if len(present) == 2:  # binary: one logit for the second class -> two softmax logits
        coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
    kernel[np.ix_(used, present)] = coef.T
    bias[present] = intercept
    return kernel, bias, int(np.max(model.n_iter_))


def softmax_probs(X: sp.csr_matrix | np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Class probabilities of the softmax layer on feature rows ``X``."""
    logits = np.asarray(X @ kernel) + bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class HeadRows:
    """The rows of a shared list of posts that one softmax head is fitted on
    (:meth:`TextClassifier.fit_average`)."""

    index: np.ndarray       # positions in the posts
    targets: np.ndarray     # (len(index), k) probabilities
    weights: np.ndarray     # sample weights
    golden: np.ndarray      # boolean mask of the golden rows (their total weight scales the L2 penalty)
    lf_features: bool       # whether this head sees the LF-vote columns


class TextClassifier:
    """Keras text classifier on posts with ``fit`` / ``predict`` / ``predict_proba``.

    Methods take :class:`models.features.Posts` (texts with ids and LF votes) or plain texts.
    """

    def __init__(self, labels: Sequence[str], params: TrainParams | None = None, *, n_lfs: int = 0) -> None:
        self.labels = list(labels)
        self.params = params or TrainParams()
        self.n_lfs = n_lfs
        self.model: keras.Model | None = None
        self.space: FeatureSpace | None = None
        self.history: dict[str, list[float]] = {}
        self.epoch_seconds: list[float] = []
        self.n_iter_: int = 0

    @property
    def linear(self) -> bool:
        return self.params.architecture != "bilstm"

    def _feature_space(self) -> FeatureSpace:
        p = self.params
        return FeatureSpace(p.architecture, n_classes=len(self.labels), n_lfs=self.n_lfs, lf_features=p.lf_features,
                            max_tokens=p.max_tokens, ngrams=p.ngrams, encoder_name=p.encoder)

    # -- scikit-learn interface -------------------------------------------------------------
    def fit(self, posts: Posts | Sequence[str], y: Sequence[int] | np.ndarray, *,
            sample_weight: np.ndarray | None = None, scale_rows: np.ndarray | None = None,
            validation: tuple[Posts | Sequence[str], Sequence[int] | np.ndarray] | None = None,
            verbose: int = 0) -> TextClassifier:
        """Train on ``posts`` with hard (class index) or soft (probability) targets ``y``.

        ``class_weight = "balanced"`` multiplies ``sample_weight`` by the inverse frequency of
        each row's most likely class. ``scale_rows`` marks the golden rows whose total weight
        scales the linear head's L2 penalty (see :func:`fit_softmax`). ``validation`` (golden
        dev posts and labels) drives early stopping of the bilstm; the convex linear head needs none.
        """
        posts = as_posts(posts)
        targets = to_targets(y, len(self.labels))
        weights = np.ones(len(targets)) if sample_weight is None else np.asarray(sample_weight, "float64")
        weights = class_weighted(self.params, targets, weights)
        started = time.perf_counter()
        if self.linear:
            self._fit_linear(posts, targets, weights, scale_rows)
        else:
            self._fit_bilstm(posts, targets, weights, validation, verbose)
        if not self.epoch_seconds:
            self.epoch_seconds = [time.perf_counter() - started]
        return self

    def _fit_linear(self, posts: Posts, targets: np.ndarray, weights: np.ndarray,
                    scale_rows: np.ndarray | None) -> None:
        self.space = self._feature_space().fit(posts.texts)
        kernel, bias, self.n_iter_ = fit_softmax(self.space.transform(posts), targets, weights, self.params.l2,
                                                 scale_rows)
        self._set_head(kernel, bias)

    def fit_average(self, posts: Posts | Sequence[str], heads: Sequence[HeadRows]) -> TextClassifier:
        """Fit one softmax head per entry of ``heads`` on its rows of ``posts`` and keep the mean
        of their weights, i.e. the mean of their logits, as the model's one softmax layer.

        All heads share one feature space fitted on every text of ``posts``; a head without LF
        features gets zero weights on the vote columns. ``class_weight`` applies to each head's
        rows as in :meth:`fit`. Linear architectures only.
        """
        if not self.linear:
            raise ValueError("fit_average needs a linear architecture, not bilstm")
        posts = as_posts(posts)
        started = time.perf_counter()
        self.space = self._feature_space().fit(posts.texts)
        X = self.space.transform(posts)
        text_columns = X.shape[1] - (self.n_lfs * len(self.labels) if self.space.lf_features else 0)
        kernels, biases = [], []
        for head in heads:
            columns = X.shape[1] if head.lf_features else text_columns
            kernel, bias, n_iter = fit_softmax(X[head.index][:, :columns], head.targets,
                                               class_weighted(self.params, head.targets, head.weights),
                                               self.params.l2, head.golden)
            kernels.append(np.vstack([kernel, np.zeros((X.shape[1] - columns, len(self.labels)), "float32")]))
            biases.append(bias)
            self.n_iter_ = max(self.n_iter_, n_iter)
        self._set_head(np.mean(kernels, axis=0), np.mean(biases, axis=0))
        self.epoch_seconds = [time.perf_counter() - started]
        return self

    def _set_head(self, kernel: np.ndarray, bias: np.ndarray) -> None:
        """The Keras model: :attr:`space`'s features into one softmax layer with these weights."""
        inputs, features = self.space.keras_inputs()  # type: ignore[union-attr]
        softmax = keras.layers.Dense(len(self.labels), activation="softmax", name="probs")
        self.model = keras.Model(inputs, softmax(features), name="goldloop_linear")
        softmax.set_weights([kernel, bias])

    def _fit_bilstm(self, posts: Posts, targets: np.ndarray, weights: np.ndarray,
                    validation: tuple[Posts | Sequence[str], Sequence[int] | np.ndarray] | None, verbose: int) -> None:
        p = self.params
        keras.utils.set_random_seed(p.seed)
        texts = string_tensor(posts.texts)
        vectorize = keras.layers.TextVectorization(max_tokens=p.max_tokens, standardize=standardize_post,
                                                   output_mode="int", output_sequence_length=p.sequence_length,
                                                   name="vectorize")
        vectorize.adapt(tf.data.Dataset.from_tensor_slices(tf.reshape(texts, [-1])).batch(PREDICT_BATCH))
        if not vectorize.vocabulary_size() > 2:
            raise ValueError(f"no words to learn from: all {len(posts)} training texts are empty once standardized")
        inputs = keras.Input(shape=(1,), dtype="string", name="text")
        x = keras.layers.Embedding(p.max_tokens, p.embedding_dim, mask_zero=True, name="embed")(vectorize(inputs))
        x = keras.layers.Bidirectional(keras.layers.LSTM(p.lstm_units), name="bilstm")(x)
        softmax = keras.layers.Dense(len(self.labels), activation="softmax", name="probs",
                                     kernel_regularizer=keras.regularizers.L2(p.l2) if p.l2 else None)
        self.model = keras.Model(inputs, softmax(keras.layers.Dropout(p.dropout, name="dropout")(x)),
                                 name="goldloop_bilstm")
        self.model.compile(optimizer=keras.optimizers.Adam(p.learning_rate), loss="categorical_crossentropy")
        callbacks: list[keras.callbacks.Callback] = [_EpochTimer(self.epoch_seconds)]
        validation_data = None
        if validation is not None and len(validation[0]):
            validation_data = (string_tensor(as_posts(validation[0]).texts), to_targets(validation[1], len(self.labels)))
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=p.patience,
                                                           restore_best_weights=True))
        batch_size = max(p.batch_size, -(-len(targets) // p.max_steps_per_epoch))
        history = self.model.fit(texts, targets, sample_weight=weights.astype("float32"), epochs=p.epochs,
                                 batch_size=batch_size, validation_data=validation_data, callbacks=callbacks,
                                 shuffle=True, verbose=verbose)
        self.history = {k: [float(v) for v in vs] for k, vs in history.history.items()}

    def _check_fitted(self) -> None:
        if self.model is None:
            raise NotFittedError("TextClassifier is not fitted: call fit() or TextClassifier.load()")

    def _feed(self, posts: Posts) -> tf.Tensor | dict[str, np.ndarray]:
        self._check_fitted()
        if self.space is None:
            return string_tensor(posts.texts)
        return self.space.keras_feed(posts)

    def predict_proba(self, posts: Posts | Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, columns in ``labels`` order."""
        posts = as_posts(posts)
        feed = self._feed(posts)
        if len(posts) == 0:
            return np.zeros((0, len(self.labels)), "float32")
        return np.asarray(self.model.predict(feed, batch_size=PREDICT_BATCH, verbose=0))  # type: ignore[union-attr]

    def predict(self, posts: Posts | Sequence[str]) -> np.ndarray:
        """Predicted class indices."""
        return self.predict_proba(posts).argmax(axis=1)

    def embed(self, posts: Posts | Sequence[str]) -> np.ndarray:
        """What the model sees of the posts' text (TF-IDF and embedding blocks, or the BiLSTM
        state), for diversity sampling and near-duplicate checks; LF votes are left out, since
        they are not what makes two posts near duplicates."""
        posts = as_posts(posts)
        self._check_fitted()
        strings = string_tensor(posts.texts)
        if self.space is None:
            return self._submodel("text", "probs", output=False).predict(strings, batch_size=PREDICT_BATCH, verbose=0)
        parts = []
        if "tfidf" in self.space.blocks:
            parts.append(self._submodel("text", "tfidf_norm").predict(strings, batch_size=PREDICT_BATCH, verbose=0))
        if "encoder" in self.space.blocks:
            parts.append(self.space.embeddings(posts))
        return np.hstack(parts)

    def _submodel(self, source: str, target: str, output: bool = True) -> keras.Model:
        """The part of the model from input ``source`` to layer ``target``'s output (or input)."""
        layer = self.model.get_layer(target)  # type: ignore[union-attr]
        return keras.Model(self.model.get_layer(source).output, layer.output if output else layer.input)  # type: ignore[union-attr]

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> dict[str, str]:
        """Write ``model.keras``, the ``saved_model/`` export (TF Serving) and label metadata."""
        self._check_fitted()
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / MODEL_FILE)
        self.model.export(str(directory / EXPORT_DIR), verbose=False)
        meta = {"labels": self.labels, "params": asdict(self.params), "n_lfs": self.n_lfs}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))
        return {"keras": str(directory / MODEL_FILE), "saved_model": str(directory / EXPORT_DIR)}

    @classmethod
    def load(cls, directory: Path) -> TextClassifier:
        """Load a classifier written by :meth:`save`."""
        meta = json.loads((directory / META_FILE).read_text())
        clf = cls(meta["labels"], TrainParams(**meta["params"]), n_lfs=meta.get("n_lfs", 0))
        clf.model = keras.saving.load_model(directory / MODEL_FILE)
        clf.space = clf._feature_space() if clf.linear else None
        return clf


class _EpochTimer(keras.callbacks.Callback):
    """Records wall-clock seconds per training epoch."""

    def __init__(self, sink: list[float]) -> None:
        super().__init__()
        self.sink = sink
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.sink.append(time.perf_counter() - self._start)
