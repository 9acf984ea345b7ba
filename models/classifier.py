"""The end model: a Keras 3 text classifier with a scikit-learn style interface.

``TextVectorization`` sits inside the model, so the saved model takes raw strings::

    clf = TextClassifier(["ham", "spam"], TrainParams())
    clf.fit(texts, targets)            # targets: class indices or a probability matrix
    clf.predict_proba(["check out my channel"])
    clf.save(run_dir)                   # model.keras + saved_model/ (TF Serving) export
    TextClassifier.load(run_dir)

Two architectures: ``tfidf`` (the fast default: word n-gram TF-IDF features -> dropout ->
softmax, i.e. a regularised multinomial logistic regression; the texts are vectorized once
and the softmax trains on sparse rows, see :mod:`models.tfidf`) and ``bilstm`` (the original
design: Embedding -> bidirectional LSTM -> softmax, trained end to end on strings).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from collections.abc import Callable, Sequence
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import tensorflow as tf  # noqa: E402

from models import tfidf  # noqa: E402
from models.params import TrainParams  # noqa: E402
from models.standardize import standardize_post  # noqa: E402

tf.get_logger().setLevel("ERROR")  # no retracing chatter when many small models are trained in one process

TrainInputs = tf.Tensor | sp.csr_matrix
Featurizer = Callable[[tf.Tensor], TrainInputs]

MODEL_FILE = "model.keras"
EXPORT_DIR = "saved_model"
META_FILE = "classifier.json"
PREDICT_BATCH = 1024


def _strings(texts: Sequence[str] | np.ndarray) -> tf.Tensor:
    """Raw texts as a ``(n, 1)`` string tensor, the model's input shape."""
    return tf.constant(np.asarray(texts, dtype=object).astype(str).reshape(-1, 1))


def to_targets(y: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """Class indices (n,) or probabilities (n, k) -> a float32 probability matrix (n, k)."""
    y = np.asarray(y)
    if y.ndim == 1:
        return keras.utils.to_categorical(y.astype(int), n_classes).astype("float32")
    if y.ndim != 2 or y.shape[1] != n_classes:
        raise ValueError(f"targets must be (n,) class indices or (n, {n_classes}) probabilities, got {y.shape}")
    return y.astype("float32")


class TextClassifier:
    """Keras text classifier on raw strings with ``fit`` / ``predict`` / ``predict_proba``."""

    def __init__(self, labels: Sequence[str], params: TrainParams | None = None) -> None:
        self.labels = list(labels)
        self.params = params or TrainParams()
        self.model: keras.Model | None = None
        self.history: dict[str, list[float]] = {}
        self.epoch_seconds: list[float] = []

    # -- building ---------------------------------------------------------------------------
    def _build(self, texts: tf.Tensor) -> tuple[keras.Model, keras.Model, TrainInputs, Featurizer]:
        """Build the model on raw strings and the model that is trained, with its inputs.

        ``tfidf``: the vocabulary comes from one tokenizing pass (:mod:`models.tfidf`), the
        training texts become a sparse TF-IDF matrix once, and a sparse-input head
        (dropout -> softmax) trains the very ``Dense`` layer the string model ends in.
        ``bilstm``: Keras' ``adapt``; the string model itself is trained.
        Returns ``(model, trainee, training inputs, featurizer for validation texts)``.
        """
        p = self.params
        inputs = keras.Input(shape=(1,), dtype="string", name="text")
        softmax = keras.layers.Dense(len(self.labels), activation="softmax", name="probs",
                                     kernel_regularizer=keras.regularizers.L2(p.l2) if p.l2 else None)
        if p.architecture == "tfidf":
            vectorize = keras.layers.TextVectorization(max_tokens=p.max_tokens, ngrams=p.ngrams,
                                                       standardize=standardize_post, output_mode="tf_idf",
                                                       name="vectorize")
            tokens = tfidf.tokenize(vectorize, texts)
            vocabulary, idf = tfidf.vocabulary(tokens, p.max_tokens)
            if not len(vocabulary):
                raise ValueError(f"no words to learn from: all {tokens.n_docs} training texts are empty"
                                 " once standardized")
            vectorize.set_vocabulary(vocabulary, idf_weights=idf)
            model = keras.Model(inputs, softmax(keras.layers.Dropout(p.dropout, name="dropout")(vectorize(inputs))),
                                name="goldloop_tfidf")
            sparse = keras.Input(shape=(len(vocabulary) + 1,), sparse=True, name="tfidf")
            trainee = keras.Model(sparse, softmax(_SparseDropout(p.dropout, p.seed)(sparse)), name="goldloop_tfidf_head")
            featurize: Featurizer = lambda strings: tfidf.features(tfidf.tokenize(vectorize, strings), vocabulary, idf)
            train_inputs: TrainInputs = tfidf.features(tokens, vocabulary, idf)
        else:
            vectorize = keras.layers.TextVectorization(max_tokens=p.max_tokens, standardize=standardize_post,
                                                       output_mode="int",
                                                       output_sequence_length=p.sequence_length,
                                                       name="vectorize")
            vectorize.adapt(tf.data.Dataset.from_tensor_slices(tf.reshape(texts, [-1])).batch(PREDICT_BATCH))
            x = keras.layers.Embedding(p.max_tokens, p.embedding_dim, mask_zero=True, name="embed")(vectorize(inputs))
            x = keras.layers.Bidirectional(keras.layers.LSTM(p.lstm_units), name="bilstm")(x)
            model = trainee = keras.Model(inputs, softmax(keras.layers.Dropout(p.dropout, name="dropout")(x)),
                                          name="goldloop_bilstm")
            featurize, train_inputs = (lambda strings: strings), texts
        trainee.compile(optimizer=keras.optimizers.Adam(p.learning_rate), loss="categorical_crossentropy")
        return model, trainee, train_inputs, featurize

    # -- scikit-learn interface -------------------------------------------------------------
    def fit(self, texts: Sequence[str], y: Sequence[int] | np.ndarray, *,
            sample_weight: np.ndarray | None = None,
            validation: tuple[Sequence[str], Sequence[int] | np.ndarray] | None = None,
            verbose: int = 0) -> TextClassifier:
        """Train on ``texts`` with hard (class index) or soft (probability) targets ``y``.

        ``validation`` (golden dev texts and labels) enables early stopping on its loss with
        the best weights restored. ``class_weight = "balanced"`` multiplies ``sample_weight`` by
        the inverse frequency of each row's most likely class. An epoch takes at most
        ``max_steps_per_epoch`` steps: large training sets get proportionally larger batches.
        """
        p = self.params
        keras.utils.set_random_seed(p.seed)
        x = _strings(texts)
        targets = to_targets(y, len(self.labels))
        weights = np.ones(len(targets), "float32") if sample_weight is None else np.asarray(sample_weight, "float32")
        if p.class_weight == "balanced":
            hard = targets.argmax(1)
            counts = np.bincount(hard, minlength=len(self.labels)).astype("float32")
            weights = weights * (len(hard) / (len(self.labels) * np.maximum(counts, 1)))[hard]
        self.model, trainee, inputs, featurize = self._build(x)
        callbacks: list[keras.callbacks.Callback] = [_EpochTimer(self.epoch_seconds)]
        validation_data = None
        if validation is not None and len(validation[0]):
            validation_data = (featurize(_strings(validation[0])), to_targets(validation[1], len(self.labels)))
            callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=p.patience,
                                                           restore_best_weights=True))
        batch_size = max(p.batch_size, -(-len(targets) // p.max_steps_per_epoch))
        history = trainee.fit(inputs, targets, sample_weight=weights, epochs=p.epochs, batch_size=batch_size,
                                 validation_data=validation_data, callbacks=callbacks, shuffle=True,
                                 verbose=verbose)
        self.history = {k: [float(v) for v in vs] for k, vs in history.history.items()}
        return self

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities, shape ``(n, n_classes)``, columns in ``labels`` order."""
        if self.model is None:
            raise RuntimeError("TextClassifier is not fitted")
        if len(texts) == 0:
            return np.zeros((0, len(self.labels)), "float32")
        return np.asarray(self.model.predict(_strings(texts), batch_size=PREDICT_BATCH, verbose=0))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Predicted class indices."""
        return self.predict_proba(texts).argmax(axis=1)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Features the softmax layer sees (TF-IDF vector or BiLSTM state), for diversity sampling."""
        if self.model is None:
            raise RuntimeError("TextClassifier is not fitted")
        features = keras.Model(self.model.inputs, self.model.get_layer("dropout").input)
        return np.asarray(features.predict(_strings(texts), batch_size=PREDICT_BATCH, verbose=0))

    # -- persistence --------------------------------------------------------------------------
    def save(self, directory: Path) -> dict[str, str]:
        """Write ``model.keras``, the ``saved_model/`` export (TF Serving) and label metadata."""
        if self.model is None:
            raise RuntimeError("TextClassifier is not fitted")
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save(directory / MODEL_FILE)
        self.model.export(str(directory / EXPORT_DIR), verbose=False)
        meta = {"labels": self.labels, "params": asdict(self.params)}
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))
        return {"keras": str(directory / MODEL_FILE), "saved_model": str(directory / EXPORT_DIR)}

    @classmethod
    def load(cls, directory: Path) -> TextClassifier:
        """Load a classifier written by :meth:`save`."""
        meta = json.loads((directory / META_FILE).read_text())
        clf = cls(meta["labels"], TrainParams(**meta["params"]))
        clf.model = keras.saving.load_model(directory / MODEL_FILE)
        return clf


class _SparseDropout(keras.layers.Layer):
    """Dropout on the stored values of a sparse input (Keras' ``Dropout`` would densify it)."""

    def __init__(self, rate: float, seed: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.rate = rate
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs: tf.SparseTensor, training: bool | None = None) -> tf.SparseTensor:
        if not training or not self.rate:
            return inputs
        values = keras.random.dropout(inputs.values, self.rate, seed=self.seed_generator)
        return tf.SparseTensor(inputs.indices, values, inputs.dense_shape)


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
