"""Monitoring (issue 14 parts 3 and 4) on a real PostgreSQL with tiny real Keras models: live posts
classified by the real stream worker, drift judged against the production model's reference,
the review sample served by the tagger, and the retrain trigger promoting a better model and
refusing a worse one, every decision recorded."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from datasets.errors import GoldloopError
from datasets.store import monitor as monitor_store
from datasets.store import sql, stream
from labeling.task import load_task
from models import drift, monitor
from models import registry as model_registry
from models.stream import Worker
from tagger_app import create_app
from tests.conftest import REPO_ROOT
from tests.support.registry import FAST_TRAIN, Trained, worse_run
from tests.support.tagger import Client, add_annotator
from tests.support.world import KEYWORD_LFS, SPAM, TASK_TOML, add_golden, make_world
from models.train import train_model

MONITOR = """
[monitor]
window = "1h"
min_posts = 40
psi = 0.2
min_lf_agreement = 0.0
review_share = 0.1
retrain_after_golden = 30
"""


def _insert_posts(engine: sa.engine.Engine, prefix: str, texts: list[str]) -> list[str]:
    ids = [f"{prefix}{i:04d}" for i in range(len(texts))]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO raw_posts (id, text, urls) VALUES (:id, :text, :urls)"),
                     [{"id": i, "text": t, "urls": [f"https://ex{n % 3}.example/{n}"]}
                      for n, (i, t) in enumerate(zip(ids, texts))])
    return ids


def _stream(engine: sa.engine.Engine, task, prefix: str, texts: list[str]) -> int:
    """Posts inserted while the task has a stream, classified by the real worker."""
    worker = Worker(engine, task, [], batch_size=500)
    _insert_posts(engine, prefix, texts)
    done = 0
    while n := worker.classify_batch():
        done += n
    return done


def test_psi_shares_and_agreement_arithmetic() -> None:
    assert drift.shares(["a", "a", "b", "zzz"], ["a", "b"]) == {"a": 0.666667, "b": 0.333333}
    assert drift.psi({"a": 0.5, "b": 0.5}, {"a": 0.5, "b": 0.5}) == 0.0
    shifted = drift.psi({"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1})
    assert shifted == pytest.approx(0.4 * np.log(1.8) + (-0.4) * np.log(0.2), abs=1e-6)
    assert drift.psi({"a": 0.5, "b": 0.5}, {"a": 1.0, "b": 0.0}) < 10        # floored, not infinite
    votes = np.array([[1, -1], [0, 1], [-1, -1], [0, 0]])                  # majority: 1, tie, none, 0
    figures = drift.lf_agreement(votes, np.array([1, 1, 0, 1]), 2)
    assert figures == {"posts": 4, "covered": 3, "coverage": 0.75, "compared": 2, "agreement": 0.5}
    assert drift.confidence(np.array([0.9, 0.5, 0.7]), 0.6) == {"mean": 0.7, "low_share": 0.333333,
                                                                 "low_confidence": 0.6}


def test_monitor_settings_are_validated_naming_file_and_key(tmp_path: Path) -> None:
    for table, message in (("psi = 0", "'psi' must be a number above 0"),
                           ("review_share = 1.5", "'review_share' must be a number from 0 to 1"),
                           ("window = \"yesterday\"", "'window' must be an age"),
                           ("min_posts = -1", "'min_posts' must be an integer"),
                           ("retrain_after_golden = true", "'retrain_after_golden' must be an integer"),
                           ("pis = 0.3", "unknown key 'pis' (did you mean 'psi'?)")):
        path = tmp_path / "t.toml"
        path.write_text(TASK_TOML + f"\n[monitor]\n{table}\n")
        with pytest.raises(GoldloopError, match=re.escape("t.toml [monitor]: ") + ".*" + re.escape(message)):
            load_task(path)
    path.write_text(TASK_TOML)
    assert load_task(path).monitor["psi"] == 0.2 and load_task(path).monitor["window"] == "24h"


@pytest.fixture()
def trained(engine: sa.engine.Engine, tmp_path: Path) -> Trained:
    """The world (two keyword LFs, [monitor] thresholds) with golden test and dev labels and a
    backwards production model (macro-F1 near 0 on golden test), forced into production."""
    world = make_world(engine, tmp_path, task_toml=TASK_TOML + KEYWORD_LFS + MONITOR, dev=20)
    add_golden(engine, world.task, world.truth[world.truth["split"].isin(["test", "dev"])])
    good = train_model(world.task.path, world.version, engine=engine, progress=False, **FAST_TRAIN).run_id
    trained = Trained(world, [good])
    bad = worse_run(engine, trained)
    model_registry.promote(engine, world.task, bad, actor="test", reason="a bad start", force=True)
    with sql.transaction(engine) as conn:
        stream.register(conn, world.task.name)
    return Trained(world, [good, bad])


@pytest.mark.slow
def test_shift_trips_psi_retrain_promotes_a_better_model_then_refuses_a_worse(engine, trained: Trained) -> None:
    task = trained.world.task
    bad = trained.runs[1]
    balanced = [t.format(n=i) for i in range(30) for t in ("check out my channel {n}", "love this song {n}")]
    assert _stream(engine, task, "live-a", balanced) == 60

    out = subprocess.run([str(REPO_ROOT / "bin" / "monitor.sh"), "--task", str(task.path), "--json", "--quiet"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first = json.loads(out.stdout)
    assert set(first) == {"check_id", "task", "production_run", "window_start", "checked_at", "metrics", "tripped",
                          "reasons", "decision", "new_run", "detail"}
    m = first["metrics"]
    assert (first["decision"], first["tripped"], first["production_run"], m["posts"]) == ("ok", [], bad, 60)
    assert m["enough"] and m["distribution"]["psi"] < 0.2 and m["distribution"]["reference_posts"] > 0
    assert m["lfs"]["posts"] == 60 and m["lfs"]["coverage"] == 1.0 and m["lfs"]["agreement"] < 0.2  # backwards
    assert m["confidence"]["mean"] is not None and m["runs"] == [str(bad)]
    assert m["review"]["items"] == 6                                      # 10% of 60, least confident first

    # the review sample is what the tagger's prediction review of live predictions serves
    add_annotator(engine, "ann")
    client = Client(create_app({"TAGGER_TASK": str(task.path)}), "ann")
    got = client.http.get("/api/next?queue=predictions&source=production&n=20").get_json()
    with engine.connect() as conn:
        sample = conn.execute(sa.text("SELECT qi.post_id, qi.score FROM queue_items qi JOIN queues q ON q.id = qi.queue_id"
                                      " WHERE q.kind = 'production' ORDER BY qi.rank")).all()
        lowest = sorted(conn.execute(sa.text("SELECT confidence FROM predictions WHERE source = 'production'")).scalars())
    assert [i["post_id"] for i in got["items"]] == [p for p, _ in sample]
    assert [round(s, 5) for _, s in sample] == [round(c, 5) for c in lowest[:6]]

    # the stream shifts to spam only: the PSI trips; --retrain trains a loop model that beats the backwards one
    assert _stream(engine, task, "live-b", [SPAM[i % 5].format(n=i) for i in range(200)]) == 200
    second = monitor.check(engine, task, retrain_on_trip=True)
    assert "psi" in second.tripped and second.metrics["distribution"]["psi"] > 0.2
    assert second.decision == "promoted" and second.new_run is not None
    comparison = second.detail["comparison"]
    assert comparison["champion"]["run_id"] == bad and comparison["candidate"]["run_id"] == second.new_run
    assert comparison["candidate"]["macro_f1"] > comparison["champion"]["macro_f1"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT run_id FROM model_events ORDER BY id DESC LIMIT 1")).scalar() == second.new_run

    # golden labels that teach the model backwards arrive: the golden trigger fires and the worse model is refused
    truth = trained.world.truth
    taught = pd.concat([truth[truth["split"] == "lf"], truth[truth["split"] == "train"].iloc[:-10]])  # a pool is left
    flipped = taught.assign(label=lambda f: f["label"].map({"spam": "ham",
                                                                                                "ham": "spam"}))
    add_golden(engine, task, flipped, annotator="mallory")
    third = monitor.check(engine, task, retrain_on_trip=True)
    assert "golden" in third.tripped and third.metrics["golden_since_training"] == len(flipped)
    assert third.decision == "refused" and "below production run" in third.detail["refusal"]
    scores = third.detail["comparison"]
    assert scores["candidate"]["macro_f1"] < scores["champion"]["macro_f1"]
    assert scores["champion"]["run_id"] == second.new_run

    with engine.connect() as conn:
        checks = monitor_store.recent(conn, task.name, 10)
        production = conn.execute(sa.text("SELECT run_id FROM model_events ORDER BY id DESC LIMIT 1")).scalar()
    assert production == second.new_run                                   # the refused model never served
    assert [(c["decision"], c["new_run"]) for c in checks] == [("refused", third.new_run),
                                                                ("promoted", second.new_run), ("ok", None)]
    assert checks[0]["detail"]["comparison"]["candidate"]["macro_f1"] == scores["candidate"]["macro_f1"]


def test_monitor_refuses_bad_input(engine: sa.engine.Engine, tmp_path: Path) -> None:
    world = make_world(engine, tmp_path)
    with pytest.raises(GoldloopError, match="no production model for task spamtest"):
        monitor.check(engine, world.task)
    out = subprocess.run([str(REPO_ROOT / "bin" / "monitor.sh"), "--task", str(world.task.path), "--window", "soon"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "--window 'soon'" in out.stderr
