"""Cluster LF: k-means fitted on the LF split, over TF-IDF (+ truncated SVD) or sentence embeddings.

``representation = "tfidf"`` (the default) clusters TF-IDF vectors, reduced by truncated SVD and
normalised, all fitted on the LF split. ``representation = "encoder"`` clusters the sentence
encoder's L2-normalised vectors (:func:`models.encoder.embed`) as they are: posts with an ``id``
go through the workspace embedding cache the end model shares, so no post is encoded twice;
texts without ids are encoded afresh (:func:`models.encoder.encode`).

After fitting, each cluster votes the majority label of its labeled members when at least
``min_support`` members are labeled and the majority's share (purity) reaches ``min_purity``;
otherwise it abstains. The labels come from golden labels when the LF split has at least
``min_golden`` of them, else from the other LFs' majority vote. A cluster LF declared with a
``label`` only ever votes that label.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Normalizer, normalize

from labeling.label_matrix import ABSTAIN
from labeling.task import LFSpec
from models import encoder


class ClusterLF:
    """A fitted-on-the-LF-split cluster labeling function (scikit-learn style fit/predict)."""

    def __init__(self, spec: LFSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.field = spec.field
        self.params = spec.params
        self.representation = spec.params.get("representation", "tfidf")

    def _encoded(self, texts: Sequence[str], ids: Sequence[Any] | None) -> np.ndarray:
        """Sentence embeddings of ``texts``: cached by post id when ``ids`` are given."""
        name = self.params.get("encoder", encoder.DEFAULT_ENCODER)
        if ids is None:
            return encoder.encode(list(texts), name)
        return encoder.embed(ids, texts, name)

    def _fit_embedding(self, texts: Sequence[str], ids: Sequence[Any] | None = None) -> Any:
        """Fit the representation on ``texts`` (TF-IDF + SVD, normalized; or none for the
        encoder, whose vectors are already of unit length); return their points."""
        p = self.params
        if self.representation == "encoder":
            return self._encoded(texts, ids)
        tfidf = TfidfVectorizer(max_features=p["max_features"], ngram_range=(1, p["ngram_max"]), sublinear_tf=True)
        points = tfidf.fit_transform(texts)
        dims = min(p["svd_components"], points.shape[1] - 1, len(texts) - 1)
        if dims < 1:
            self.embedder_ = make_pipeline(tfidf)
            return points
        svd = TruncatedSVD(dims, random_state=p["seed"])
        self.embedder_ = make_pipeline(tfidf, svd, Normalizer())
        return normalize(svd.fit_transform(points))

    def fit(self, texts: Sequence[str], reference: np.ndarray, source: str,
            ids: Sequence[Any] | None = None) -> ClusterLF:
        """Fit on the LF split's ``texts``; ``reference`` holds their labels (-1 = unknown).

        ``ids`` (post ids, one per text) key the embedding cache of ``representation = "encoder"``.
        """
        p = self.params
        reference = np.asarray(reference, dtype=np.int64)
        self.report_ = {"label_source": source, "representation": self.representation, "clusters": []}
        self.embedder_: Pipeline | None = None
        self.kmeans_: KMeans | None = None
        self.cluster_votes_ = np.zeros(0, dtype=np.int8)
        try:
            points = self._fit_embedding(texts, ids)
        except ValueError:  # fewer than two rows, or no word in any of them: abstain everywhere
            return self
        if points.shape[0] < 2:
            return self
        self.kmeans_ = KMeans(n_clusters=min(p["k"], points.shape[0]), n_init=3, random_state=p["seed"]).fit(points)
        assigned = self.kmeans_.labels_
        self.cluster_votes_ = np.full(self.kmeans_.n_clusters, ABSTAIN, dtype=np.int8)
        for cluster in range(self.kmeans_.n_clusters):
            members = reference[(assigned == cluster) & (reference >= 0)]
            size = int((assigned == cluster).sum())
            entry = {"cluster": cluster, "size": size, "support": int(len(members)), "purity": None, "vote": None}
            if len(members):
                counts = np.bincount(members)
                majority = int(counts.argmax())
                purity = float(counts[majority] / len(members))
                entry.update(purity=round(purity, 4), majority=majority)
                if (purity >= p["min_purity"] and len(members) >= p["min_support"]
                        and (self.spec.label is None or majority == self.spec.label)):
                    self.cluster_votes_[cluster] = majority
                    entry["vote"] = majority
            self.report_["clusters"].append(entry)
        return self

    def predict(self, texts: Sequence[str], ids: Sequence[Any] | None = None) -> np.ndarray:
        """Votes (``int8``, -1 = abstain) for ``texts``: their nearest cluster's vote.

        ``ids`` (post ids, one per text) key the embedding cache of ``representation = "encoder"``.
        """
        if not hasattr(self, "kmeans_"):
            raise NotFittedError(f"cluster LF {self.name!r} must be fitted on the LF split before predicting")
        if self.kmeans_ is None or not len(texts):
            return np.full(len(texts), ABSTAIN, dtype=np.int8)
        if self.representation == "encoder":
            points = self._encoded(texts, ids)
        else:
            points = self.embedder_.transform(texts)
        return self.cluster_votes_[self.kmeans_.predict(points)]
