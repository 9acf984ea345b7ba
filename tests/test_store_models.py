"""What the training loop stores (datasets.store runs, predictions and queue writers), on a real database."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sqlalchemy as sa

from datasets.store import predictions, queues, runs

LABELS = ["ham", "spam"]


def _seed(engine: sa.engine.Engine) -> None:
    """Posts a, b, c in version 1 and post z in version 2 only."""
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dataset_versions (version, seed) VALUES (1, 0), (2, 0)"))
        for post_id, version in (("a", 1), ("b", 1), ("c", 1), ("z", 2)):
            conn.execute(sa.text("INSERT INTO raw_posts (id, text) VALUES (:i, :i)"), {"i": post_id})
            conn.execute(sa.text("INSERT INTO split_members (version, post_id, split, norm_hash)"
                                 " VALUES (:v, :i, 'train', md5(:i))"), {"v": version, "i": post_id})


def _stored(engine: sa.engine.Engine, source: str) -> dict[str, tuple]:
    with engine.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(sa.text(
            "SELECT post_id, label, confidence, run_ref FROM predictions WHERE task = 't' AND source = :s"),
            {"s": source})}


def test_predictions_replace_the_source_on_the_version(engine: sa.engine.Engine) -> None:
    _seed(engine)
    with engine.begin() as conn:
        predictions.write(conn, task="t", source="label_model", version=2, run_ref="7", labels=LABELS,
                          ids=["z"], probs=np.array([[0.3, 0.7]]))
        written = predictions.write(conn, task="t", source="label_model", version=1, run_ref="8", labels=LABELS,
                                    ids=["a", "b", "c"], probs=np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5]]))
        predictions.write(conn, task="t", source="end_model", version=1, run_ref="1", labels=LABELS,
                          ids=["a"], probs=np.array([[0.1234567, 0.8765433]]))
    assert written == 3
    # a second run that no longer covers c: c loses its prediction, z (another version) keeps its own
    with engine.begin() as conn:
        predictions.write(conn, task="t", source="label_model", version=1, run_ref="9", labels=LABELS,
                          ids=["a", "b"], probs=np.array([[0.6, 0.4], [0.25, 0.75]]))
    stored = _stored(engine, "label_model")
    assert set(stored) == {"a", "b", "z"}
    assert stored["a"][0] == "ham" and stored["a"][2] == "9" and math.isclose(stored["a"][1], 0.6, rel_tol=1e-6)
    assert stored["b"][:1] == ("spam",) and stored["z"][2] == "7"
    assert set(_stored(engine, "end_model")) == {"a"}  # one source never touches the other
    with engine.connect() as conn:
        found = predictions.of_posts(conn, "t", "end_model", ["a", "b"])
    assert found == {"a": {"label": "spam", "confidence": pytest.approx(0.876543),
                           "probs": {"ham": 0.123457, "spam": 0.876543}}}


def test_runs_record_read_and_list(engine: sa.engine.Engine) -> None:
    _seed(engine)
    with engine.begin() as conn:
        first = runs.record(conn, task="t", task_hash="h", version=1, kind="train", params={"l2": 0.001},
                            metrics={"loss": float("nan")}, golden={"train": 3, "test": 1})
        second = runs.record(conn, task="t", task_hash="h", version=2, kind="train", params={}, metrics={})
        runs.record(conn, task="t", task_hash="h", version=1, kind="loop", params={}, metrics={}, parent_id=first)
        runs.set_model_path(conn, first, "/models/t/run-1")
    with engine.connect() as conn:
        got = runs.get(conn, first)
        assert runs.get(conn, 10_000) is None
        assert runs.latest(conn, "t", "train")["id"] == second
        assert runs.latest(conn, "t", "train", 1)["id"] == first
        assert runs.latest(conn, "t", "evaluate") is None
        assert runs.latest(conn, None, "loop")["task"] == "t"
        assert [r["parent_id"] for r in runs.of_task(conn, "t", "loop")] == [first]
    assert got["metrics"] == {"loss": None} and got["params"] == {"l2": 0.001}  # NaN is stored as null
    assert (got["golden_train"], got["golden_dev"], got["golden_test"]) == (3, 0, 1)
    assert got["model_path"] == "/models/t/run-1"


def test_queue_write_copies_items_in_rank_order(engine: sa.engine.Engine) -> None:
    _seed(engine)
    with engine.begin() as conn:
        queue_id = queues.write(conn, task="t", kind="active", strategy="entropy", version=1,
                                params={"batch_size": 2}, items=[("b", np.int64(1), np.float64(0.9), "uncertain"),
                                                                 ("a", 2, float("nan"), None)])
    with engine.connect() as conn:
        items = conn.execute(sa.text("SELECT post_id, rank, score, reason FROM queue_items WHERE queue_id = :q"
                                     " ORDER BY rank"), {"q": queue_id}).all()
        params = conn.execute(sa.text("SELECT params FROM queues WHERE id = :q"), {"q": queue_id}).scalar()
    assert [tuple(r) for r in items] == [("b", 1, pytest.approx(0.9), "uncertain"), ("a", 2, None, None)]
    assert params == {"batch_size": 2}
