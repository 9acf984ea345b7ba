"""What a ``TextVectorization(output_mode="tf_idf")`` layer computes, done once in NumPy/SciPy.

Keras' ``adapt`` de-duplicates every document's tokens with a per-row ``tf.map_fn`` (minutes
for 100k posts), and a model with the layer inside re-vectorizes every string on every epoch.
This module tokenizes once with the layer's own ``_preprocess`` (standardize, split, n-grams)
and derives from those tokens

* :func:`vocabulary`: the vocabulary and IDF weights ``adapt`` would set (tokens by count, ties
  by token descending, ``max_tokens - 1`` kept since index 0 is OOV, IDF = log(1 + N / (1 + df))),
* :func:`features`: the layer's output as a CSR matrix (count x IDF; OOV tokens share column 0,
  weighted by the mean IDF, as the layer does),

so the classifier can train its softmax on sparse rows while the saved model keeps the layer
and takes raw strings. ``tests/test_tfidf.py`` checks both against the layer itself.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd
import scipy.sparse as sp
import tensorflow as tf

BATCH = 1024


@dataclass
class Tokens:
    """Every document's tokens: ``codes`` index ``uniques``; ``rows`` gives each token's document."""

    codes: np.ndarray
    uniques: np.ndarray
    rows: np.ndarray
    n_docs: int


def tokenize(vectorize: keras.layers.TextVectorization, texts: tf.Tensor) -> Tokens:
    """The layer's tokens (unigrams and n-grams) of ``texts`` (a string tensor), factorized."""
    tokens, rows, offset = [], [], 0
    flat_texts = tf.reshape(texts, [-1])
    for i in range(0, int(flat_texts.shape[0]), BATCH):
        ragged = vectorize._preprocess(flat_texts[i:i + BATCH])
        tokens.append(ragged.flat_values.numpy())
        rows.append(ragged.value_rowids().numpy() + offset)
        offset += int(ragged.nrows())
    flat = np.concatenate(tokens) if tokens else np.array([], object)
    codes, uniques = pd.factorize(flat)
    row_ids = np.concatenate(rows).astype("int64") if rows else np.array([], "int64")
    return Tokens(codes=codes.astype("int64"), uniques=np.asarray(uniques, dtype=object), rows=row_ids,
                  n_docs=offset)


def vocabulary(tokens: Tokens, max_tokens: int) -> tuple[np.ndarray, np.ndarray]:
    """Vocabulary (without the OOV token) and IDF weights, as ``adapt`` in ``tf_idf`` mode sets them."""
    n_unique = max(len(tokens.uniques), 1)
    counts = np.bincount(tokens.codes, minlength=len(tokens.uniques))
    documents = np.bincount(np.unique(tokens.rows * n_unique + tokens.codes) % n_unique,
                            minlength=len(tokens.uniques))
    keep = ~np.isin(tokens.uniques, [b"", b"[UNK]"])
    uniques, counts, documents = tokens.uniques[keep], counts[keep], documents[keep]
    order = np.lexsort((uniques, counts))[::-1][:max_tokens - 1]
    idf = np.log(1 + tokens.n_docs / (1 + documents[order])).astype("float32")
    return np.array([t.decode() for t in uniques[order]]), idf


def features(tokens: Tokens, vocabulary: Sequence[str], idf: np.ndarray) -> sp.csr_matrix:
    """The layer's TF-IDF output for ``tokens`` as a CSR matrix, ``(n_docs, len(vocabulary) + 1)``.

    ``vocabulary`` and ``idf`` are what :func:`vocabulary` returned (no OOV entry); column 0
    collects out-of-vocabulary tokens at the mean IDF.
    """
    weights = np.concatenate([[np.mean(idf) if len(idf) else 0.0], idf]).astype("float32")
    index = pd.Index([t.encode() for t in vocabulary]).get_indexer(tokens.uniques) + 1  # -1 (OOV) -> 0
    counts = sp.csr_matrix((np.ones(len(tokens.codes), "float32"), (tokens.rows, index[tokens.codes])),
                           shape=(tokens.n_docs, len(weights)))
    counts.sum_duplicates()
    matrix = (counts @ sp.diags(weights)).tocsr()
    matrix.sort_indices()
    return matrix
