"""MLflow tracking (models/tracking.py) against a real SQLite tracking store: train, evaluate,
loop and simulation runs with their metrics and artifacts, the production alias following
promotions and rollbacks, nothing at all without MLFLOW_TRACKING_URI, and a dead server that
costs a warning but never the goldloop run."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from models import registry, tracking
from models.evaluate import evaluate
from models.loop import run_iteration
from models.simulate import simulate
from models.train import train_model
from tests.conftest import REPO_ROOT
from tests.support.registry import FAST_TRAIN, train_runs
from tests.support.world import LF_TOML, add_golden, make_world


@pytest.fixture()
def mlflow_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Tracking on, into a fresh SQLite store (the model registry needs a database-backed store);
    artifacts land in ``mlruns/`` of the working directory, here a private one."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv(tracking.ENV, uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    monkeypatch.setitem(tracking._state, "failed", False)
    yield uri


def _client() -> Any:
    from mlflow import MlflowClient
    return MlflowClient()


def _runs(task: str, kind: str) -> list[Any]:
    client = _client()
    experiment = client.get_experiment_by_name(f"goldloop-{task}")
    return client.search_runs([experiment.experiment_id], filter_string=f"tags.`goldloop.kind` = '{kind}'",
                              order_by=["attributes.start_time ASC"])


def _artifacts(run_id: str, path: str | None = None) -> set[str]:
    return {f.path for f in _client().list_artifacts(run_id, path)}


def test_train_evaluate_and_promotions_are_mirrored(engine, mlflow_uri: str, tmp_path: Path):
    trained = train_runs(engine, tmp_path, 2)
    task, (first, second) = trained.world.task, trained.runs
    evaluation = evaluate(task.path, run_id=first, engine=engine)

    train_runs_ = _runs(task.name, "train")
    assert [r.data.tags["goldloop.run_id"] for r in train_runs_] == [str(first), str(second)]
    run = train_runs_[0]
    assert run.info.status == "FINISHED"
    assert run.data.tags["goldloop.task"] == task.name
    assert run.data.tags["goldloop.version"] == str(trained.world.version)
    assert run.data.params["architecture"] == "tfidf" and run.data.params["golden.test"] == "40"
    with engine.connect() as conn:
        posts = conn.execute(sa.text("SELECT count(*) FROM split_members WHERE version = :v"),
                             {"v": trained.world.version}).scalar()
    assert run.data.metrics["predictions"] == posts and run.data.metrics["training.seconds"] > 0
    assert {"model", "model_card.json"} <= _artifacts(run.info.run_id)
    assert {"model/model.keras", "model/saved_model", "model/model_card.json"} <= _artifacts(run.info.run_id, "model")

    (mirrored,) = _runs(task.name, "evaluate")
    assert mirrored.data.tags["goldloop.run_id"] == str(evaluation.run_id)
    assert mirrored.data.tags["goldloop.train_run"] == str(first)
    assert mirrored.data.metrics["n_test"] == 40
    for name in ("end_model", "label_model", "majority_vote", "best_lf"):
        assert mirrored.data.metrics[f"{name}.macro_f1"] == pytest.approx(evaluation.models[name]["macro_f1"])
    assert mirrored.data.metrics["end_model.accuracy_ci95.0"] == pytest.approx(
        evaluation.models["end_model"]["accuracy_ci95"][0])
    assert "model_card.json" in _artifacts(mirrored.info.run_id)

    client, name = _client(), f"goldloop-{task.name}"

    def production() -> tuple[str, dict[str, str]]:
        version = client.get_model_version_by_alias(name, "production")
        return version.tags["goldloop.run_id"], version.tags

    registry.promote(engine, task, first, actor="alice", reason="first")
    assert production()[0] == str(first)
    registry.promote(engine, task, second, actor="bob", reason="second", force=True)
    run_id, tags = production()
    assert run_id == str(second) and tags["goldloop.actor"] == "bob" and tags["goldloop.action"] == "promote"
    event = registry.rollback(engine, task, actor="carol", reason="back")
    run_id, tags = production()
    assert run_id == str(first) and tags["goldloop.action"] == "rollback" and tags["goldloop.event_id"] == str(event.id)
    versions = client.search_model_versions(f"name = '{name}'")
    assert sorted(int(v.version) for v in versions) == [1, 2]  # the rollback reused version 1
    by_run = {v.run_id: v for v in versions}
    assert set(by_run) == {r.info.run_id for r in train_runs_}
    assert all(v.source.endswith("/model") for v in versions)
    assert not tracking._state["failed"]


def test_a_model_trained_without_tracking_is_logged_when_promoted(engine, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(tracking.ENV, raising=False)
    trained = train_runs(engine, tmp_path, 1)
    monkeypatch.setenv(tracking.ENV, f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(tracking._state, "failed", False)
    registry.promote(engine, trained.world.task, trained.runs[0], actor="alice", reason="first")
    (run,) = _runs(trained.world.task.name, "train")
    assert run.data.tags["goldloop.run_id"] == str(trained.runs[0])
    assert run.data.params["architecture"] == "tfidf"  # from the model card's parameters
    assert "model/model.keras" in _artifacts(run.info.run_id, "model")
    version = _client().get_model_version_by_alias(f"goldloop-{trained.world.task.name}", "production")
    assert version.run_id == run.info.run_id


def test_loop_iteration_nests_its_runs_and_simulation_logs_curves(engine, mlflow_uri: str, tmp_path: Path):
    world = make_world(engine, tmp_path, task_toml=LF_TOML)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "test"])
    iteration = run_iteration(world.task.path, strategy="margin", batch_size=5, progress=False, engine=engine)
    (loop,) = _runs(world.task.name, "loop")
    assert loop.data.tags["goldloop.run_id"] == str(iteration.loop_run)
    assert loop.data.metrics["models.end_model.macro_f1"] == pytest.approx(iteration.models["end_model"]["macro_f1"])
    assert {"learning_curve.png", "iterations.json"} <= _artifacts(loop.info.run_id)
    (child_train,) = _runs(world.task.name, "train")
    (child_eval,) = _runs(world.task.name, "evaluate")
    assert child_train.data.tags["mlflow.parentRunId"] == loop.info.run_id
    assert child_eval.data.tags["mlflow.parentRunId"] == loop.info.run_id
    assert child_train.data.tags["goldloop.run_id"] == str(iteration.train_run)

    gold = tmp_path / "gold.csv"
    world.truth[["id", "label"]].to_csv(gold, index=False)
    result = simulate(gold, world.task.path, strategies=["random"], seeds=1, budget=5, batch=5,
                      out_dir=tmp_path / "sim", progress=False, engine=engine)
    (sim,) = _runs(world.task.name, "simulate")
    assert sim.data.tags["goldloop.run_id"] == str(result.run_id) and sim.data.params["budget"] == "5"
    history = _client().get_metric_history(sim.info.run_id, "random.macro_f1")
    assert [(m.step, m.value) for m in history] == [(p["labels"], p["macro_f1"]) for p in result.curves["random"]]
    baseline = _client().get_metric_history(sim.info.run_id, "golden_only.accuracy")
    assert [m.step for m in baseline] == [5]
    assert sim.data.metrics["baseline.majority_class.accuracy"] == result.baselines["majority_class"]["accuracy"]
    assert "learning_curves.png" in _artifacts(sim.info.run_id)
    assert {"curves/curves.csv", "curves/summary.csv", "curves/summary.json"} <= _artifacts(sim.info.run_id, "curves")


def test_without_the_variable_nothing_is_imported_or_written(engine, tmp_path: Path):
    world = make_world(engine, tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    script = ("import sys\nfrom models.train import train_model\nfrom models.evaluate import evaluate\n"
              f"r = train_model({str(world.task.path)!r}, engine=None, progress=False, select=False, "
              "architecture='tfidf')\n"
              f"evaluate({str(world.task.path)!r}, run_id=r.run_id)\n"
              "print('mlflow' in sys.modules, r.run_id)\n")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = subprocess.run([sys.executable, "-c", script], cwd=cwd, env={**env, "PYTHONPATH": str(REPO_ROOT)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    imported, run_id = proc.stdout.split()
    assert imported == "False"
    assert list(cwd.iterdir()) == [] and not (REPO_ROOT / "mlruns").exists()
    assert "MLflow" not in proc.stderr
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT kind FROM runs WHERE id = :i"), {"i": int(run_id)}).scalar() == "train"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_dead_tracking_server_warns_once_and_keeps_the_goldloop_run(engine, tmp_path: Path, capsys,
                                                                       monkeypatch: pytest.MonkeyPatch):
    uri = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv(tracking.ENV, uri)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setitem(tracking._state, "failed", False)
    world = make_world(engine, tmp_path)
    add_golden(engine, world.task, world.truth[world.truth["split"] == "test"])
    first = train_model(world.task.path, engine=engine, progress=False, **FAST_TRAIN)
    second = train_model(world.task.path, engine=engine, progress=False, **FAST_TRAIN)
    registry.promote(engine, world.task, first.run_id, actor="alice", reason="still works")
    err = capsys.readouterr().err
    assert err.count(f"MLFLOW_TRACKING_URI={uri} failed") == 1, err  # then the process stops trying
    assert "the goldloop run is recorded" in err
    assert Path(first.model_path, "model.keras").exists() and Path(second.model_path, "model.keras").exists()
    with engine.connect() as conn:
        kinds = conn.execute(sa.text("SELECT kind FROM runs WHERE id IN (:a, :b)"),
                             {"a": first.run_id, "b": second.run_id}).scalars().all()
    assert kinds == ["train", "train"]
    assert registry.listing(engine, world.task).production_run == first.run_id


def test_flatten_params_and_metrics():
    value = {"a": {"b": 1, "c/d": [0.5, 0.25]}, "e f": "x", "g": True, "h": float("nan"),
             "rows": [{"k": 2}, {"k": 3}], "weird#key": 4}
    assert tracking.params_of(value) == {"a.b": "1", "a.c/d": "[0.5, 0.25]", "e f": "x", "g": "true", "h": "NaN",
                                         "rows.0.k": "2", "rows.1.k": "3", "weird_key": "4"}
    assert tracking.metrics_of(value) == {"a.b": 1.0, "a.c/d.0": 0.5, "a.c/d.1": 0.25, "rows.0.k": 2.0,
                                          "rows.1.k": 3.0, "weird_key": 4.0}
    assert len(tracking.params_of({"long": "x" * 10_000})["long"]) == tracking.MAX_PARAM_CHARS
