"""models.tfidf reproduces Keras' TextVectorization in tf_idf mode: vocabulary, IDF and output."""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from models import tfidf

TEXTS = ["Check out my channel!!", "check my CHANNEL", "love this song <3", "song song song",
         "[UNK] tokens stay tokens", "", "  spaced   out  ", "emoji 🎵 and ünïcode", "a b a b a b",
         "#hashtag @user http://t.co/x", "love love this"] * 3 + ["one more unseen line"]
NEW = ["brand new words only", "check this song", "", "love [UNK] a b"]


def _layer(max_tokens: int) -> keras.layers.TextVectorization:
    return keras.layers.TextVectorization(max_tokens=max_tokens, ngrams=2, output_mode="tf_idf")


def test_vocabulary_and_idf_equal_keras_adapt():
    for max_tokens in (12, 40, 500):
        adapted = _layer(max_tokens)
        adapted.adapt(TEXTS)
        layer = _layer(max_tokens)
        vocabulary, idf = tfidf.vocabulary(tfidf.tokenize(layer, tf.constant(TEXTS)), max_tokens)
        assert adapted.get_vocabulary()[1:] == list(vocabulary)
        layer.set_vocabulary(vocabulary, idf_weights=idf)
        assert np.allclose(layer(tf.constant(TEXTS + NEW)).numpy(), adapted(tf.constant(TEXTS + NEW)).numpy(),
                           atol=1e-5)


def test_sparse_features_equal_layer_output_including_oov_column():
    layer = _layer(30)
    vocabulary, idf = tfidf.vocabulary(tfidf.tokenize(layer, tf.constant(TEXTS)), 30)
    layer.set_vocabulary(vocabulary, idf_weights=idf)
    matrix = tfidf.features(tfidf.tokenize(layer, tf.constant(NEW + TEXTS)), vocabulary, idf)
    dense = layer(tf.constant(NEW + TEXTS)).numpy()
    assert matrix.shape == dense.shape
    assert matrix[:, 0].sum() > 0  # out-of-vocabulary tokens were counted
    assert np.allclose(matrix.toarray(), dense, atol=1e-5)
