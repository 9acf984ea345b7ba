"""The model registry (bin/model.sh, models/registry.py) and the production-model loader on real
PostgreSQL with tiny trained models: promotion rules, the rollback stack, the event record."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from datasets.errors import GoldloopError
from labeling.applier import TaskApplier
from models import registry
from models.features import Posts
from models.production import load_production, load_run, production_event_id
from models.train import train_model
from tests.conftest import REPO_ROOT
from tests.support.registry import FAST_TRAIN, train_runs, worse_run
from tests.support.world import KEYWORD_LFS, TASK_TOML, make_world


def _model_sh(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(REPO_ROOT / "bin" / "model.sh"), *args], capture_output=True, text=True, timeout=120)


def test_first_promotion_needs_no_comparison_and_records_who_and_why(engine, tmp_path: Path):
    trained = train_runs(engine, tmp_path, 1)
    task = trained.world.task
    with pytest.raises(GoldloopError, match=f"no production model for task {task.name}: promote"):
        load_production(engine, task)
    assert production_event_id(engine, task) is None
    event = registry.promote(engine, task, trained.runs[0], actor="alice", reason="first model")
    assert (event.action, event.run_id, event.previous_run_id, event.actor, event.reason, event.forced) == \
        ("promote", trained.runs[0], None, "alice", "first model", False)
    assert event.comparison["n"] == 40 and event.comparison["champion"] is None
    assert event.comparison["candidate"]["macro_f1"] > 0.5
    model = load_production(engine, task)
    assert (model.run_id, model.event_id, model.labels, model.version) == \
        (trained.runs[0], event.id, ["ham", "spam"], trained.world.version)
    assert model.metrics == event.comparison["candidate"]
    assert production_event_id(engine, task) == event.id
    assert model.predict_proba(["subscribe to my channel", "love this song"]).argmax(1).tolist() == [1, 0]
    shown = registry.show(engine, task, trained.runs[0])
    assert shown.in_production and shown.test_metrics["n"] == 40 and [e.id for e in shown.events] == [event.id]


def test_a_worse_candidate_is_refused_unless_forced(engine, tmp_path: Path):
    trained = train_runs(engine, tmp_path, 1)
    task, good = trained.world.task, trained.runs[0]
    bad = worse_run(engine, trained)
    registry.promote(engine, task, good, actor="alice", reason="good")
    with pytest.raises(GoldloopError, match=rf"candidate macro-F1 0\.\d+ is below production run {good}'s "
                                            r"0\.\d+ on 40 golden test labels .*--force"):
        registry.promote(engine, task, bad, actor="bob", reason="try")
    assert registry.listing(engine, task).production_run == good  # nothing recorded
    forced = registry.promote(engine, task, bad, actor="bob", reason="on purpose", force=True)
    assert forced.forced and forced.previous_run_id == good
    assert forced.comparison["candidate"]["macro_f1"] < forced.comparison["champion"]["macro_f1"]
    assert load_production(engine, task).run_id == bad


def test_rollback_walks_the_stack_down_and_stops_at_the_bottom(engine, tmp_path: Path):
    trained = train_runs(engine, tmp_path, 2)
    task, (first, second) = trained.world.task, trained.runs
    with pytest.raises(GoldloopError, match="has no production model to roll back"):
        registry.rollback(engine, task, actor="alice", reason="x")
    registry.promote(engine, task, first, actor="alice", reason="one")
    registry.promote(engine, task, second, actor="alice", reason="equal figures are no regression")
    with pytest.raises(GoldloopError, match=f"run {second} is already the production model"):
        registry.promote(engine, task, second, actor="alice", reason="again")
    back = registry.rollback(engine, task, actor="carol", reason="bad news")
    assert (back.action, back.run_id, back.previous_run_id, back.actor) == ("rollback", first, second, "carol")
    assert load_production(engine, task).run_id == first
    with pytest.raises(GoldloopError, match=f"nothing to roll back to: run {first} is the only model"):
        registry.rollback(engine, task, actor="carol", reason="again")
    listed = registry.listing(engine, task)
    assert listed.stack == [first] and [e.action for e in listed.events] == ["promote", "promote", "rollback"]
    assert [c.run_id for c in listed.candidates] == [second, first]  # what `promote RUN` can pick, newest first
    assert all(c.test_metrics["n"] > 0 for c in listed.candidates)


def test_no_golden_test_labels_refuses_a_challenger_unless_forced(engine, tmp_path: Path):
    world = make_world(engine, tmp_path)
    first, second = (train_model(world.task.path, world.version, engine=engine, progress=False, **FAST_TRAIN).run_id
                     for _ in range(2))
    registry.promote(engine, world.task, first, actor="a", reason="first")  # nothing to beat
    with pytest.raises(GoldloopError, match="no golden test labels on data-set v1 to compare"):
        registry.promote(engine, world.task, second, actor="a", reason="second")
    assert registry.promote(engine, world.task, second, actor="a", reason="second", force=True).forced


def test_the_command_names_bad_run_ids_and_records_the_os_user(engine, tmp_path: Path):
    trained = train_runs(engine, tmp_path, 1)
    task_arg = ["--task", str(trained.world.task.path)]
    run = trained.runs[0]
    with engine.begin() as conn:
        evaluation = conn.execute(sa.text("INSERT INTO runs (task, task_hash, kind, parent_id) VALUES"
                                          " (:t, 'x', 'evaluate', :p) RETURNING id"),
                                  {"t": trained.world.task.name, "p": run}).scalar()
        other = conn.execute(sa.text("INSERT INTO runs (task, task_hash, kind, model_path) VALUES"
                                     " ('other', 'x', 'train', :m) RETURNING id"), {"m": str(tmp_path)}).scalar()
    for bad, message in ((999, "run 999 does not exist"), (evaluation, f"run {evaluation} is a evaluate run"),
                         (other, f"run {other} belongs to task 'other'")):
        done = _model_sh("promote", str(bad), "--reason", "r", *task_arg)
        assert done.returncode == 1 and message in done.stderr, done.stderr
    done = _model_sh("promote", str(run), "--reason", "ship it", "--json", *task_arg)
    assert done.returncode == 0, done.stderr
    event = json.loads(done.stdout)
    assert event["run_id"] == run and event["actor"] and event["reason"] == "ship it"
    listed = json.loads(_model_sh("list", "--json", *task_arg).stdout)
    assert listed["production_run"] == run and listed["events"][0]["id"] == event["id"]
    assert run in [c["run_id"] for c in listed["candidates"]]
    assert f"run {run} (production)" in _model_sh("list", *task_arg).stdout
    assert f"run {run} of task spamtest" in _model_sh("show", str(run), *task_arg).stdout
    shutil.rmtree(Path(listed and registry.show(engine, trained.world.task, run).model_path))
    with pytest.raises(GoldloopError, match=f"run {run}: its model directory .* is missing"):
        load_production(engine, trained.world.task)


def test_a_model_on_lf_votes_computes_them_with_the_task_lfs_and_refuses_a_changed_task(engine, tmp_path: Path):
    world = make_world(engine, tmp_path, task_toml=TASK_TOML + KEYWORD_LFS)
    run = train_model(world.task.path, world.version, engine=engine, progress=False, lf_features=True,
                      **FAST_TRAIN).run_id
    model = load_run(engine, world.task, run)
    texts = ["please subscribe", "i love music", "nothing at all"]
    votes = TaskApplier(world.task).apply(world.truth.head(0).reindex(range(3)).assign(text=texts)).astype(np.int16)
    expected = model.classifier.predict_proba(Posts(texts=texts, votes=votes))
    assert np.allclose(model.predict_proba(texts), expected, atol=1e-5)
    world.task.path.write_text(world.task.path.read_text() + "\n# edited\n")
    changed = type(world.task)(**{**world.task.__dict__, "sha256": "0" * 64})
    with pytest.raises(GoldloopError, match=f"run {run} uses LF votes as features, but .* changed since"):
        load_run(engine, changed, run)
