"""MLflow tracking: a mirror of goldloop's runs and production model, on when ``MLFLOW_TRACKING_URI`` is set.

goldloop's own record (the ``runs`` table, the model directories, ``model_events``) stays the
source of truth; this module copies each finished step into MLflow so the runs can be compared
and browsed there (docs/tracking.md). It is the only module that imports mlflow, and it does so
lazily: without ``MLFLOW_TRACKING_URI`` every function returns at once, nothing is imported or
written, and no command pays mlflow's import time.

Every step is mirrored after it has been recorded, from its result dataclass, with the
``MlflowClient`` API (no fluent "active run" state): a train run gets its parameters, training
figures, model card and the model directory as the ``model`` artifact; an evaluation its golden
test metrics and the updated model card; a loop iteration a parent run whose children are that
iteration's train and evaluation runs (the ``mlflow.parentRunId`` tag) and its learning curve;
a simulation its curves as metrics with ``step`` = labels and its CSV and PNG files. Each MLflow
run carries the tags ``goldloop.run_id``, ``goldloop.kind``, ``goldloop.task``,
``goldloop.version`` and, for trained models, ``goldloop.model_path``: the link between the two
records lives in MLflow, so goldloop's schema and rows stay as they are.

A promotion or rollback (``models/registry.py``) sets the alias ``production`` of the registered
model ``goldloop-<task>`` to the model version of the run now in production, creating the
version (and, for a model trained while tracking was off, its MLflow run) on first use.

An MLflow failure (server down, bad URI, full disk) never undoes or fails the goldloop step,
which is already committed when the mirror runs: the error becomes one warning on stderr naming
``MLFLOW_TRACKING_URI``, and the process stops trying for the rest of its life, so a dead server
costs one timeout rather than one per step (``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` and
``MLFLOW_HTTP_REQUEST_TIMEOUT`` bound that timeout, as in any MLflow client).
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from labeling.task import Task

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from datasets.store.registry import ModelEvent
    from models.evaluate import EvaluationResult
    from models.loop import LoopIteration
    from models.simulate import SimulationResult
    from models.train import TrainResult

ENV = "MLFLOW_TRACKING_URI"
PRODUCTION_ALIAS = "production"
MODEL_ARTIFACT = "model"
MAX_PARAM_CHARS = 6000   # MLflow's limit on a parameter value
_KEY_UNSAFE = re.compile(r"[^\w\-. /]")
_state = {"failed": False}

F = TypeVar("F", bound=Callable[..., Any])


def enabled() -> bool:
    """Whether MLflow tracking is on: ``MLFLOW_TRACKING_URI`` is set and no call has failed yet."""
    return bool(os.environ.get(ENV, "").strip()) and not _state["failed"]


def _mirror(fn: F) -> F:
    """Run ``fn`` only when tracking is on; turn its failure into one warning on stderr."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not enabled():
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - any MLflow failure must leave the goldloop step alone
            _state["failed"] = True
            print(f"warning: MLflow tracking at {ENV}={os.environ.get(ENV)} failed ({type(exc).__name__}: {exc}); "
                  "the goldloop run is recorded, MLflow is skipped for the rest of this command", file=sys.stderr)
            return None
    return wrapper  # type: ignore[return-value]


def _client() -> MlflowClient:
    from mlflow import MlflowClient  # lazily: ~1 s of imports, paid only when tracking is on
    return MlflowClient()


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested dicts and lists as ``("a.b.0", leaf)`` pairs, keys made MLflow-safe."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, (list, tuple)) and value and all(isinstance(v, (dict, list, tuple)) for v in value):
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}.{i}")
    else:
        yield _KEY_UNSAFE.sub("_", prefix), value


def params_of(value: dict[str, Any]) -> dict[str, str]:
    """Flattened parameters as MLflow stores them: text, lists as JSON, cut to MLflow's limit."""
    return {key: (leaf if isinstance(leaf, str) else json.dumps(leaf, default=str))[:MAX_PARAM_CHARS]
            for key, leaf in flatten(value)}


def metrics_of(value: dict[str, Any]) -> dict[str, float]:
    """The finite numbers among the flattened leaves (lists of numbers by index; booleans and text skipped)."""
    out: dict[str, float] = {}
    for key, leaf in flatten(value):
        leaves = enumerate(leaf) if isinstance(leaf, (list, tuple)) else [(None, leaf)]
        for i, number in leaves:
            if isinstance(number, (int, float)) and not isinstance(number, bool) and math.isfinite(number):
                out[key if i is None else f"{key}.{i}"] = float(number)
    return out


def _experiment_name(task: str) -> str:
    """The experiment of ``task``: ``MLFLOW_EXPERIMENT_NAME`` when set, else ``goldloop-<task>``."""
    return os.environ.get("MLFLOW_EXPERIMENT_NAME") or f"goldloop-{task}"


def _experiment_id(client: MlflowClient, task: str) -> str:
    name = _experiment_name(task)
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _log_run(client: MlflowClient, task: Task, *, kind: str, run_id: int, version: int, params: dict[str, Any],
             metrics: dict[str, Any], tags: dict[str, str] | None = None,
             files: dict[str, Path | None] | None = None, json_files: dict[str, Any] | None = None) -> str:
    """One finished MLflow run for goldloop run ``run_id``; returns its MLflow run id.

    ``files`` maps an artifact folder ("" for the root) to a file or directory to copy there;
    ``json_files`` maps an artifact file name to data written as JSON.
    """
    from mlflow.entities import Metric, Param

    all_tags = {"goldloop.run_id": str(run_id), "goldloop.kind": kind, "goldloop.task": task.name,
                "goldloop.version": str(version), "goldloop.task_hash": task.sha256, **(tags or {})}
    run = client.create_run(_experiment_id(client, task.name), run_name=f"{kind}-{run_id}", tags=all_tags)
    rid = run.info.run_id
    _log_batches(client, rid, params=[Param(k, v) for k, v in params_of(params).items()],
                 metrics=[Metric(k, v, _now_ms(), 0) for k, v in metrics_of(metrics).items()])
    for folder, path in (files or {}).items():
        if path is not None and path.is_dir():
            client.log_artifacts(rid, str(path), folder or None)
        elif path is not None and path.is_file():
            client.log_artifact(rid, str(path), folder or None)
    for name, data in (json_files or {}).items():
        client.log_dict(rid, data, name)
    client.set_terminated(rid)
    return rid


def _now_ms() -> int:
    return int(time.time() * 1000)


def _log_batches(client: MlflowClient, rid: str, params: Sequence[Any] = (), metrics: Sequence[Any] = ()) -> None:
    """Log parameters and metrics in batches of MLflow's size limits (100 parameters, 1000 metrics)."""
    for start in range(0, len(params), 100):
        client.log_batch(rid, params=params[start:start + 100])
    for start in range(0, len(metrics), 1000):
        client.log_batch(rid, metrics=metrics[start:start + 1000])


def _find_run(client: MlflowClient, task: str, kind: str, run_id: int, **tags: str) -> str | None:
    """The newest MLflow run mirroring goldloop run ``run_id`` of ``kind`` whose ``goldloop.<key>``
    tags equal ``tags`` (the model path or train run: run ids alone may repeat across databases
    sharing one tracking server), or None."""
    experiment = client.get_experiment_by_name(_experiment_name(task))
    if experiment is None:
        return None
    found = client.search_runs([experiment.experiment_id], order_by=["attributes.start_time DESC"],
                               filter_string=f"tags.`goldloop.run_id` = '{int(run_id)}' "
                                             f"and tags.`goldloop.kind` = '{kind}'")
    for run in found:
        if all(run.data.tags.get(f"goldloop.{key}") == value for key, value in tags.items()):
            return run.info.run_id
    return None


def _card(model_path: str | Path) -> dict[str, Any]:
    from models.train import MODEL_CARD
    path = Path(model_path) / MODEL_CARD
    return json.loads(path.read_text()) if path.exists() else {}


def _log_model(client: MlflowClient, task: Task, *, run_id: int, version: int, model_path: str | Path,
               params: dict[str, Any], metrics: dict[str, Any]) -> str:
    """A train run with its model directory as the ``model`` artifact and its model card at the root."""
    path = Path(model_path)
    return _log_run(client, task, kind="train", run_id=run_id, version=version, params=params, metrics=metrics,
                    tags={"goldloop.model_path": str(path)},
                    files={MODEL_ARTIFACT: path}, json_files={"model_card.json": _card(path)})


@_mirror
def log_train(task: Task, result: TrainResult) -> str:
    """Mirror a train run: parameters, training and selection figures, model card, the model."""
    card = _card(result.model_path)
    params = {**card.get("parameters", {}), "architecture": result.architecture, "golden": result.golden}
    return _log_model(_client(), task, run_id=result.run_id, version=result.version, model_path=result.model_path,
                      params=params, metrics={"training": result.training, "predictions": result.predictions,
                                              "selection": {"candidates": result.selection.get("candidates", [])}})


@_mirror
def log_evaluation(task: Task, result: EvaluationResult, model_path: str | None) -> str:
    """Mirror an evaluation: each model's golden test metrics and the model card as it is now."""
    card_file = Path(model_path) / "model_card.json" if model_path else None
    return _log_run(_client(), task, kind="evaluate", run_id=result.run_id, version=result.version,
                    params={"train_run": result.train_run, "lf_run_id": result.lf_run_id},
                    metrics={"n_test": result.n_test, **result.models},
                    tags={"goldloop.train_run": str(result.train_run),
                          **({"goldloop.warning": result.warning} if result.warning else {})},
                    files={"": card_file})


@_mirror
def log_loop(task: Task, result: LoopIteration) -> str:
    """Mirror a loop iteration as the parent of its train and evaluation runs, with the learning curve."""
    client = _client()
    rid = _log_run(client, task, kind="loop", run_id=result.loop_run, version=result.version,
                   params={"queues": {name: {k: v for k, v in q.items() if k in ("strategy", "cold_start")}
                                      for name, q in result.queues.items()}, "train_run": result.train_run},
                   metrics={"models": result.models, "n_test": result.n_test, "seconds": result.seconds,
                            "golden_train": result.iterations[-1]["golden_train"] if result.iterations else 0},
                   files={"": Path(result.learning_curve)}, json_files={"iterations.json": list(result.iterations)})
    children = (_find_run(client, task.name, "train", result.train_run, model_path=result.model_path),
                _find_run(client, task.name, "evaluate", result.evaluation_run, train_run=str(result.train_run)))
    for child in children:
        if child is not None:
            client.set_tag(child, "mlflow.parentRunId", rid)
    return rid


@_mirror
def log_simulation(task: Task, result: SimulationResult) -> str:
    """Mirror a simulation: each curve as metrics ``<strategy>.<metric>`` at step = labels, the files."""
    from mlflow.entities import Metric

    client = _client()
    flat = {name: value for name, value in result.baselines.items() if isinstance(value, dict)}
    rid = _log_run(client, task, kind="simulate", run_id=result.run_id, version=result.version,
                   params={"gold": result.gold, "strategies": list(result.strategies), "seeds": result.seeds,
                           "budget": result.budget, "batch": result.batch},
                   metrics={"pool": result.pool, "n_test": result.n_test, "baseline": flat},
                   files={"": Path(result.png), "curves": Path(result.csv)},
                   json_files={"curves/summary.json": {"curves": result.curves, "baselines": result.baselines}})
    client.log_artifact(rid, result.summary_csv, "curves")
    curves = {**result.curves, **{name: v for name, v in result.baselines.items() if isinstance(v, list)}}
    _log_batches(client, rid, metrics=[
        Metric(_KEY_UNSAFE.sub("_", f"{name}.{metric}"), float(p[metric]), _now_ms(), int(p["labels"]))
        for name, pts in curves.items() for p in pts for metric in ("accuracy", "macro_f1", "accuracy_std", "macro_f1_std")])
    return rid


@_mirror
def mirror_production(task: Task, event: ModelEvent, model_path: str) -> int:
    """Point the alias ``production`` of ``goldloop-<task>`` at the model version of ``event.run_id``.

    The version is created from the run's MLflow train run (logged now from the model directory
    and its model card if the model was trained while tracking was off); each version is tagged
    with the event that last pointed the alias at it. Returns the model version number.
    """
    client = _client()
    name = f"goldloop-{task.name}"
    rid = _find_run(client, task.name, "train", event.run_id, model_path=str(model_path))
    if rid is None:
        card = _card(model_path)
        rid = _log_model(client, task, run_id=event.run_id, version=int(card.get("data_version", 0)),
                         model_path=model_path, params=card.get("parameters", {}), metrics=card.get("metrics", {}))
    if not client.search_registered_models(filter_string=f"name = '{name}'"):
        client.create_registered_model(name, tags={"goldloop.task": task.name},
                                       description=f"goldloop end model of task {task.name}")
    versions = client.search_model_versions(f"name = '{name}' and run_id = '{rid}'")
    if versions:
        model_version = versions[0].version
    else:
        source = f"{client.get_run(rid).info.artifact_uri}/{MODEL_ARTIFACT}"
        model_version = client.create_model_version(name, source, run_id=rid,
                                                    tags={"goldloop.run_id": str(event.run_id)}).version
    client.set_registered_model_alias(name, PRODUCTION_ALIAS, model_version)
    for key, value in {"goldloop.event_id": event.id, "goldloop.action": event.action, "goldloop.actor": event.actor,
                       "goldloop.reason": event.reason, "goldloop.forced": event.forced}.items():
        client.set_model_version_tag(name, model_version, key, str(value))
    return int(model_version)
