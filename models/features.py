"""What the linear end model sees of a post: TF-IDF words, sentence embeddings, LF votes.

A representation names its feature blocks joined by ``+`` (``tfidf``, ``encoder``,
``tfidf+encoder``); :attr:`FeatureSpace.lf_features` adds the LF votes as one-hot columns.
Every block is scaled to unit length per post (one-hot votes excepted), so a single L2 penalty
treats the blocks alike and concatenating them needs no tuning.

The blocks are computed here with NumPy/SciPy (TF-IDF through :mod:`models.tfidf`, which
reproduces Keras' ``TextVectorization`` exactly), because the linear head is fitted by a convex
solver outside Keras; :meth:`FeatureSpace.keras_inputs` builds the same features inside a Keras
graph so the saved model computes them from raw strings, an embedding and the votes.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
import scipy.sparse as sp
import tensorflow as tf
from sklearn.preprocessing import normalize

from datasets.errors import GoldloopError
from labeling.analysis import one_hot_votes
from labeling.label_matrix import ABSTAIN
from models import encoder, tfidf
from models.standardize import standardize_post

BLOCKS = ("tfidf", "encoder")


@dataclass(frozen=True)
class Posts:
    """Posts to featurize: texts, their ids (keys of the embedding cache) and LF votes.

    ``ids`` may be None for texts that are not posts of the store (they are encoded without
    the cache); ``votes`` (``(n, m)``, -1 = abstain) are needed only by models that use LF
    votes as features.
    """

    texts: list[str]
    ids: list[str] | None = None
    votes: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def vote_matrix(self) -> np.ndarray:
        """The LF votes, or an ``(n, 0)`` matrix when there is no LF run (nothing voted)."""
        return self.votes if self.votes is not None else np.full((len(self), 0), ABSTAIN, np.int16)

    def take(self, rows: np.ndarray | Sequence[int]) -> Posts:
        """The posts at ``rows``, in that order."""
        rows = np.asarray(rows, dtype=int)
        return Posts(texts=[self.texts[i] for i in rows], ids=None if self.ids is None else [self.ids[i] for i in rows],
                     votes=None if self.votes is None else self.votes[rows])

    @staticmethod
    def concat(parts: Sequence[Posts]) -> Posts:
        """All ``parts`` one after the other (ids and votes kept only when every part has them)."""
        has_ids = all(p.ids is not None for p in parts)
        has_votes = all(p.votes is not None for p in parts) and parts
        return Posts(texts=[t for p in parts for t in p.texts],
                     ids=[i for p in parts for i in p.ids] if has_ids else None,  # type: ignore[union-attr]
                     votes=np.vstack([p.votes for p in parts]) if has_votes else None)  # type: ignore[misc]


def as_posts(posts: Posts | Sequence[str]) -> Posts:
    """Accept plain texts wherever :class:`Posts` are expected."""
    return posts if isinstance(posts, Posts) else Posts(texts=[str(t) for t in posts])


def parse_representation(name: str) -> tuple[str, ...]:
    """``"tfidf+encoder"`` -> ``("tfidf", "encoder")``; an error naming unknown blocks."""
    blocks = tuple(b.strip() for b in name.split("+"))
    unknown = [b for b in blocks if b not in BLOCKS]
    if unknown or not blocks or len(set(blocks)) != len(blocks):
        raise GoldloopError(f"representation {name!r}: blocks must be distinct and among {list(BLOCKS)}")
    return blocks


def join_blocks(parts: Sequence[sp.csr_matrix]) -> sp.csr_matrix | np.ndarray:
    """Blocks side by side: sparse when TF-IDF is among them, else a dense array (dense
    embeddings multiply many times faster as NumPy arrays than as sparse matrices)."""
    joined = sp.hstack(parts, format="csr", dtype="float32")
    return joined if joined.nnz < 0.5 * np.prod(joined.shape) else joined.toarray()


class FeatureSpace:
    """The feature blocks of one model, fitted (TF-IDF vocabulary and IDF) on its training texts."""

    def __init__(self, representation: str, *, n_classes: int, n_lfs: int = 0, lf_features: bool = False,
                 max_tokens: int = 20000, ngrams: int = 2, encoder_name: str = encoder.DEFAULT_ENCODER) -> None:
        self.representation = representation
        self.blocks = parse_representation(representation)
        self.n_classes = n_classes
        self.n_lfs = n_lfs
        self.lf_features = lf_features
        self.max_tokens = max_tokens
        self.ngrams = ngrams
        self.encoder_name = encoder_name
        self.vectorize: keras.layers.TextVectorization | None = None
        self.vocabulary_ = np.array([], dtype=str)
        self.idf_ = np.array([], dtype="float32")
        self._memo: dict[str, np.ndarray] = {}

    def _layer(self) -> keras.layers.TextVectorization:
        return keras.layers.TextVectorization(max_tokens=self.max_tokens, ngrams=self.ngrams,
                                              standardize=standardize_post, output_mode="tf_idf", name="vectorize")

    def fit(self, texts: Sequence[str]) -> FeatureSpace:
        """Learn the TF-IDF vocabulary and IDF of ``texts`` (nothing to learn for other blocks)."""
        if "tfidf" in self.blocks:
            self.vectorize = self._layer()
            tokens = tfidf.tokenize(self.vectorize, string_tensor(texts))
            self.vocabulary_, self.idf_ = tfidf.vocabulary(tokens, self.max_tokens)
            if not len(self.vocabulary_):
                raise ValueError(f"no words to learn from: all {tokens.n_docs} training texts are empty"
                                 " once standardized")
            self.vectorize.set_vocabulary(self.vocabulary_, idf_weights=self.idf_)
        return self

    def block(self, name: str, posts: Posts) -> sp.csr_matrix:
        """One block's features of ``posts`` as a CSR matrix."""
        if name == "tfidf":
            if self.vectorize is None:
                raise ValueError("FeatureSpace.fit must run before tfidf features")
            tokens = tfidf.tokenize(self.vectorize, string_tensor(posts.texts))
            return normalize(tfidf.features(tokens, self.vocabulary_, self.idf_)).astype("float32")
        return sp.csr_matrix(self.embeddings(posts))

    def embeddings(self, posts: Posts) -> np.ndarray:
        """Sentence embeddings of ``posts``: through the workspace cache when ids are known,
        else from vectors this space already saw for the same text, else encoded afresh."""
        if posts.ids is not None:
            vectors = encoder.embed(posts.ids, posts.texts, self.encoder_name)
            self._memo.update(zip(posts.texts, vectors))
            return vectors
        missing = list(dict.fromkeys(t for t in posts.texts if t not in self._memo))
        if missing:
            self._memo.update(zip(missing, encoder.encode(missing, self.encoder_name)))
        dim = encoder.dimension(self.encoder_name)
        return np.array([self._memo[t] for t in posts.texts], dtype="float32").reshape(len(posts), dim)

    def votes_block(self, posts: Posts) -> sp.csr_matrix:
        """One-hot LF votes of ``posts``; an error when the model needs votes and none came."""
        if posts.votes is None:
            raise GoldloopError("this model uses LF votes as features: pass the posts' LF votes")
        if posts.votes.shape[1] != self.n_lfs:
            raise GoldloopError(f"this model was trained on {self.n_lfs} LFs' votes, got {posts.votes.shape[1]}")
        return one_hot_votes(posts.votes, self.n_classes)

    def transform(self, posts: Posts) -> sp.csr_matrix | np.ndarray:
        """Every block of ``posts`` side by side (``tfidf``, ``encoder``, then LF votes)."""
        parts = [self.block(b, posts) for b in self.blocks]
        if self.lf_features:
            parts.append(self.votes_block(posts))
        return join_blocks(parts)

    # -- the same features inside a Keras graph ----------------------------------------------
    def keras_inputs(self) -> tuple[dict[str, keras.KerasTensor], keras.KerasTensor]:
        """Keras inputs (``text``, ``embedding``, ``lf_votes`` as needed) and their concatenated
        features, equal to :meth:`transform` (``lf_votes`` takes the one-hot votes)."""
        inputs: dict[str, keras.KerasTensor] = {}
        parts = []
        if "tfidf" in self.blocks:
            inputs["text"] = keras.Input(shape=(1,), dtype="string", name="text")
            vectorize = self._layer()
            vectorize.set_vocabulary(self.vocabulary_, idf_weights=self.idf_)
            flat = keras.layers.Reshape((len(self.vocabulary_) + 1,), name="tfidf")(vectorize(inputs["text"]))
            parts.append(keras.layers.UnitNormalization(name="tfidf_norm")(flat))
        if "encoder" in self.blocks:
            inputs["embedding"] = keras.Input(shape=(encoder.dimension(self.encoder_name),), name="embedding")
            parts.append(inputs["embedding"])
        if self.lf_features:
            inputs["lf_votes"] = keras.Input(shape=(self.n_lfs * self.n_classes,), name="lf_votes")
            parts.append(inputs["lf_votes"])
        features = parts[0] if len(parts) == 1 else keras.layers.Concatenate(name="features")(parts)
        return inputs, features

    def keras_feed(self, posts: Posts) -> dict[str, np.ndarray | tf.Tensor]:
        """What :meth:`keras_inputs` takes for ``posts``."""
        feed: dict[str, np.ndarray | tf.Tensor] = {}
        if "tfidf" in self.blocks:
            feed["text"] = string_tensor(posts.texts)
        if "encoder" in self.blocks:
            feed["embedding"] = self.embeddings(posts)
        if self.lf_features:
            feed["lf_votes"] = self.votes_block(posts).toarray()
        return feed


def string_tensor(texts: Sequence[str]) -> tf.Tensor:
    """Raw texts as a ``(n, 1)`` string tensor, the shape of the models' ``text`` input."""
    return tf.constant(np.asarray(texts, dtype=object).astype(str).reshape(-1, 1))
