"""models.tfidf reproduces Keras' TextVectorization in tf_idf mode: vocabulary, IDF and output."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from models import tfidf
from models.standardize import standardize_post

STANDARDIZERS = pytest.mark.parametrize("standardize", ["lower_and_strip_punctuation", standardize_post])

TEXTS = ["Check out my channel!!", "check my CHANNEL", "love this song <3", "song song song",
         "[UNK] tokens stay tokens", "", "  spaced   out  ", "emoji 🎵 and ünïcode", "a b a b a b",
         "#hashtag @user http://t.co/x", "love love this"] * 3 + ["one more unseen line"]
NEW = ["brand new words only", "check this song", "", "love [UNK] a b"]


def _layer(max_tokens: int, standardize) -> keras.layers.TextVectorization:
    return keras.layers.TextVectorization(max_tokens=max_tokens, ngrams=2, output_mode="tf_idf",
                                          standardize=standardize)


@STANDARDIZERS
def test_vocabulary_and_idf_equal_keras_adapt(standardize):
    for max_tokens in (12, 40, 500):
        adapted = _layer(max_tokens, standardize)
        adapted.adapt(TEXTS)
        layer = _layer(max_tokens, standardize)
        vocabulary, idf = tfidf.vocabulary(tfidf.tokenize(layer, tf.constant(TEXTS)), max_tokens)
        assert adapted.get_vocabulary()[1:] == list(vocabulary)
        layer.set_vocabulary(vocabulary, idf_weights=idf)
        assert np.allclose(layer(tf.constant(TEXTS + NEW)).numpy(), adapted(tf.constant(TEXTS + NEW)).numpy(),
                           atol=1e-5)


@STANDARDIZERS
def test_sparse_features_equal_layer_output_including_oov_column(standardize):
    layer = _layer(30, standardize)
    vocabulary, idf = tfidf.vocabulary(tfidf.tokenize(layer, tf.constant(TEXTS)), 30)
    layer.set_vocabulary(vocabulary, idf_weights=idf)
    matrix = tfidf.features(tfidf.tokenize(layer, tf.constant(NEW + TEXTS)), vocabulary, idf)
    dense = layer(tf.constant(NEW + TEXTS)).numpy()
    assert matrix.shape == dense.shape
    assert matrix[:, 0].sum() > 0  # out-of-vocabulary tokens were counted
    assert np.allclose(matrix.toarray(), dense, atol=1e-5)


def test_standardize_post_keeps_links_and_numbers_as_tokens():
    out = standardize_post(tf.constant(["Check http://t.co/AbC?x=1 and www.Site.com/p!",
                                        "see mysite.com now", "Top 10 songs, don't miss"])).numpy()
    words = [o.decode().split() for o in out]
    assert words == [["check", "xxurl", "and", "xxurl"], ["see", "xxurl", "now"],
                     ["top", "xxnum", "songs", "don", "t", "miss"]]
