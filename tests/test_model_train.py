"""The end model: a real tiny Keras model trained on synthetic weak + golden labels."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
import tensorflow as tf

from datasets.errors import GoldloopError
from models.classifier import HeadRows, TextClassifier
from models.features import Posts
from models.params import TrainParams
from models.train import train_model
from tests.support.world import add_golden, make_world

TINY = TrainParams(architecture="tfidf", max_tokens=200)


def test_classifier_learns_soft_targets_and_round_trips(tmp_path: Path):
    texts = ["subscribe to my channel", "love this song", "check my channel", "great song"] * 20
    soft = np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.8, 0.2]] * 20)
    clf = TextClassifier(["ham", "spam"], TINY).fit(texts, soft)
    probs = clf.predict_proba(["my channel", "this song"])
    assert probs.shape == (2, 2) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert list(clf.predict(["my channel", "this song"])) == [1, 0]
    clf.save(tmp_path / "m")
    again = TextClassifier.load(tmp_path / "m")
    assert np.allclose(again.predict_proba(["my channel", "this song"]), probs, atol=1e-6)
    served = tf.saved_model.load(str(tmp_path / "m" / "saved_model"))  # what TF Serving loads
    out = served.serve({"text": tf.constant([["my channel"], ["this song"]])})
    assert np.allclose(np.asarray(out), probs, atol=1e-5)


def test_linear_fit_is_the_same_for_every_seed_and_row_order():
    texts = ["subscribe to my channel", "love this song", "check my channel", "great song", "my song"] * 8
    y = np.array([1, 0, 1, 0, 1] * 8)
    first = TextClassifier(["ham", "spam"], TINY).fit(texts, y).predict_proba(["my channel", "nice song"])
    order = np.random.default_rng(3).permutation(len(texts))
    again = TextClassifier(["ham", "spam"], replace(TINY, seed=7)).fit([texts[i] for i in order], y[order])
    assert np.allclose(again.predict_proba(["my channel", "nice song"]), first, atol=1e-5)


def test_encoder_model_with_lf_votes_trains_saves_loads_and_predicts(tmp_path: Path, home: Path):
    params = replace(TINY, architecture="tfidf+encoder", lf_features=True)
    posts = Posts(texts=["subscribe to my channel", "love this song", "check out my page", "what a great voice"] * 5,
                  ids=[f"p{i}" for i in range(20)], votes=np.array([[1, -1], [-1, 0], [1, -1], [-1, -1]] * 5))
    clf = TextClassifier(["ham", "spam"], params, n_lfs=2).fit(posts, [1, 0, 1, 0] * 5)
    new = Posts(texts=["visit my channel", "beautiful song"], votes=np.array([[1, -1], [-1, 0]]))
    probs = clf.predict_proba(new)
    assert list(probs.argmax(1)) == [1, 0]
    clf.save(tmp_path / "m")
    again = TextClassifier.load(tmp_path / "m")
    assert np.allclose(again.predict_proba(new), probs, atol=1e-5)
    assert clf.embed(new).shape[0] == 2 and clf.embed(new).shape[1] > 384  # text blocks only, no LF votes
    with pytest.raises(GoldloopError, match="LF votes"):
        again.predict_proba(["visit my channel"])
    served = tf.saved_model.load(str(tmp_path / "m" / "saved_model"))
    inputs = again.space.keras_feed(new)
    out = served.serve({name: tf.constant(value) for name, value in inputs.items()})
    assert np.allclose(np.asarray(out), probs, atol=1e-5)


def test_averaged_heads_are_one_softmax_layer_with_the_mean_logits(tmp_path: Path):
    """An ensemble of ways to use the LFs is one Dense layer whose logits are the heads' mean."""
    params = replace(TINY, lf_features=True)
    posts = Posts(texts=["subscribe to my channel", "love this song", "check out my page", "what a great voice"] * 5,
                  ids=[f"p{i}" for i in range(20)], votes=np.array([[1, -1], [-1, 0], [1, 0], [-1, -1]] * 5))
    y = np.array([1, 0, 1, 0] * 5)
    with_votes = HeadRows(np.arange(20), np.eye(2, dtype="float32")[y], np.ones(20), np.ones(20, bool), True)
    golden_half = HeadRows(np.arange(10), np.eye(2, dtype="float32")[y[:10]], np.full(10, 3.0), np.ones(10, bool),
                           False)
    new = Posts(texts=["visit my channel", "beautiful song", "my voice"], votes=np.array([[1, -1], [-1, 0], [-1, 1]]))
    single = [TextClassifier(["ham", "spam"], params, n_lfs=2).fit_average(posts, [h]).predict_proba(new)
              for h in (with_votes, golden_half)]
    clf = TextClassifier(["ham", "spam"], params, n_lfs=2).fit_average(posts, [with_votes, golden_half])
    probs = clf.predict_proba(new)
    offset = np.log(probs) - np.mean([np.log(p) for p in single], axis=0)  # the same constant across classes
    assert np.allclose(offset, offset[:, :1], atol=1e-4) and list(probs.argmax(1)) == [1, 0, 0]
    clf.save(tmp_path / "m")
    assert np.allclose(TextClassifier.load(tmp_path / "m").predict_proba(new), probs, atol=1e-6)
    with pytest.raises(ValueError, match="linear"):
        TextClassifier(["ham", "spam"], replace(TINY, architecture="bilstm")).fit_average(posts, [with_votes])


def test_training_texts_without_words_are_refused_clearly():
    with pytest.raises(ValueError, match="no words to learn from"):
        TextClassifier(["ham", "spam"], TINY).fit(["", "!!! ..."], [0, 1])


def test_bilstm_option_trains_and_embeds():
    params = TrainParams(architecture="bilstm", epochs=2, max_tokens=100, sequence_length=8,
                         embedding_dim=8, lstm_units=4, batch_size=16)
    clf = TextClassifier(["ham", "spam"], params).fit(["subscribe now", "nice song"] * 10, [1, 0] * 10)
    assert clf.predict_proba(["subscribe"]).shape == (1, 2)
    assert clf.embed(["subscribe"]).shape == (1, 8)


def test_train_model_saves_card_predictions_and_run(engine, tmp_path: Path):
    world = make_world(engine, tmp_path)
    golden = world.truth[world.truth["split"].isin(["train", "test"])].head(30)
    add_golden(engine, world.task, golden)
    result = train_model(world.task.path, world.version, progress=False)
    run_dir = Path(result.model_path)
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["data_version"] == world.version and card["task_hash"] == world.task.sha256
    assert card["parameters"]["epochs"] == 4  # from the task file's [train] table
    assert result.golden["train"] == int((golden["split"] == "train").sum())
    assert (run_dir / "model.keras").is_file() and (run_dir / "saved_model" / "saved_model.pb").is_file()
    with engine.connect() as conn:
        run = conn.execute(sa.text("SELECT kind, model_path, golden_test FROM runs WHERE id = :i"),
                           {"i": result.run_id}).one()
        preds = pd.read_sql(sa.text("SELECT post_id, label FROM predictions WHERE source = 'end_model'"), conn)
    assert run.kind == "train" and run.model_path == str(run_dir)
    assert run.golden_test == int((golden["split"] == "test").sum())
    assert len(preds) == len(world.truth)
    truth = world.truth.set_index("id")["label"]
    assert (preds.set_index("post_id")["label"] == truth.reindex(preds["post_id"]).values).mean() > 0.8
