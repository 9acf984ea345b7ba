"""Evaluate on the golden test set: end model, label model, majority vote and the best single LF.

Each model gets accuracy (with a Wilson 95% interval), macro-F1, per-class P/R/F1, the
confusion matrix and, for binary tasks, PR/ROC AUC. The result is stored in ``runs`` (kind
``evaluate``, parent = the train run) and in the model card. Fewer golden test labels than
``min_labels`` gives a warning that quotes the interval instead of a bare number.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from datasets import cli
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import runs, versions
from datasets.store.db import get_engine
from labeling.label_matrix import ABSTAIN, majority_vote
from labeling.task import Task, load_task
from models import data, tracking
from models.classifier import TextClassifier
from models.cliargs import add_task_arguments
from models.metrics import classification_metrics
from models.train import update_model_card

MODEL_ORDER = ("end_model", "label_model", "majority_vote", "best_lf")
DEFAULT_MIN_LABELS = 100


@dataclass(frozen=True, slots=True)
class EvaluationResult(StepResult):
    """One evaluation on the golden test set (the ``--json`` output of ``bin/evaluate.sh``, docs/loop.md).

    ``run_id`` is its ``runs`` row (kind ``evaluate``), ``train_run`` the model evaluated and
    ``lf_run_id`` the LF run whose votes the LF baselines used; ``models`` holds each model's
    metrics (``classification_metrics``, keyed by ``MODEL_ORDER``) on the same ``n_test`` golden
    labels, so they compare; ``warning`` is None, or says the test set is too small to trust.
    """

    run_id: int
    train_run: int
    task: str
    version: int
    n_test: int
    models: dict[str, dict[str, Any]]
    warning: str | None
    lf_run_id: int | None


def compare_models(task: Task, y_true: np.ndarray, *, end_probs: np.ndarray | None,
                   label_probs: np.ndarray | None, votes: np.ndarray, lf_names: list[str]) -> dict[str, Any]:
    """Metrics of every available model on the same golden items, keyed by ``MODEL_ORDER``."""
    def score(pred: np.ndarray, proba: np.ndarray | None = None) -> dict[str, Any]:
        return classification_metrics(y_true, pred, task.labels, proba=proba, positive=task.positive)

    models: dict[str, Any] = {}
    if end_probs is not None:
        models["end_model"] = score(end_probs.argmax(1), end_probs)
    if label_probs is not None:  # posts without a label-model prediction (no LF voted) count as abstained
        missing = np.isnan(label_probs).any(axis=1)
        filled = np.where(missing[:, None], 1.0 / len(task.labels), label_probs)
        models["label_model"] = score(np.where(missing, ABSTAIN, filled.argmax(1)), filled)
    if lf_names:
        models["majority_vote"] = score(majority_vote(votes, len(task.labels)))
        per_lf = {name: score(votes[:, j]) for j, name in enumerate(lf_names)}
        best = max(per_lf, key=lambda name: (per_lf[name]["macro_f1"], per_lf[name]["accuracy"]))
        models["best_lf"] = {**per_lf[best], "lf": best}
    return models


def small_sample_warning(n: int, models: dict[str, Any], min_labels: int) -> str | None:
    """The warning for a test set smaller than ``min_labels``, quoting the end model's interval."""
    if n >= min_labels:
        return None
    head = models.get("end_model") or next(iter(models.values()), None)
    if head is None or not n:
        return "no golden test labels for this task: label the test split in the tagger (bin/tagger.sh)"
    low, high = head["accuracy_ci95"]
    return (f"only {n} golden test labels (fewer than {min_labels}): accuracy {head['accuracy']:.3f} is "
            f"uncertain, 95% Wilson interval [{low:.3f}, {high:.3f}]; label more of the test split")


def evaluate(task_path: str | Path | None = None, version: int | None = None, *, run_id: int | None = None,
             classifier: TextClassifier | None = None, engine: Engine | None = None,
             min_labels: int = DEFAULT_MIN_LABELS) -> EvaluationResult:
    """Evaluate train run ``run_id`` (default: the task's latest on ``version``) on golden test labels."""
    task = load_task(task_path)
    engine = engine or get_engine()
    with engine.connect() as conn:
        train_run = runs.get(conn, run_id) if run_id is not None else None
        if train_run is None:
            train_run = runs.latest(conn, task.name, "train", versions.resolve(conn, version))
    if train_run is None or train_run["kind"] != "train" or train_run["task"] != task.name:
        raise GoldloopError(f"no trained model of task {task.name!r}" + (f" with run id {run_id}" if run_id else "")
                            + "; run bin/train.sh or bin/loop.sh first")
    version = train_run["version"]
    golden = data.golden_labels(engine, task, version)
    test = golden[golden["split"] == "test"].merge(data.read_texts(version, ["test"])[["id", "text"]], on="id")
    ids = test["id"].tolist()
    if classifier is None and ids:
        classifier = TextClassifier.load(Path(train_run["model_path"]))
    lf = data.lf_votes(engine, task, version, train_run["lf_run_id"])
    end_probs = classifier.predict_proba(data.posts(test, lf)) if ids else None
    models = compare_models(task, test["y"].to_numpy(int), end_probs=end_probs,
                            label_probs=data.label_model_probs(engine, task, ids), votes=lf.for_ids(ids),
                            lf_names=lf.lf_names) if ids else {}
    warning = small_sample_warning(len(ids), models, min_labels)
    metrics = {"n_test": len(ids), "models": models, "warning": warning}
    with engine.begin() as conn:
        eval_id = runs.record(conn, task=task.name, task_hash=task.sha256, version=version, kind="evaluate",
                              params={"min_labels": min_labels, "train_run": train_run["id"]},
                              metrics=metrics, parent_id=train_run["id"], lf_run_id=lf.run_id,
                              model_path=train_run["model_path"],
                              golden={"train": train_run["golden_train"], "dev": train_run["golden_dev"], "test": len(ids)})
    if train_run["model_path"] and Path(train_run["model_path"]).exists():
        update_model_card(train_run["model_path"], metrics={"test": models.get("end_model"), "n_test": len(ids)})
    result = EvaluationResult(run_id=eval_id, train_run=train_run["id"], task=task.name, version=version,
                              n_test=len(ids), models=models, warning=warning, lf_run_id=lf.run_id)
    tracking.log_evaluation(task, result, train_run["model_path"])
    return result


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def summary(result: EvaluationResult) -> str:
    """Side-by-side table of the evaluated models."""
    lines = [f"evaluation {result.run_id} of train run {result.train_run} (task {result.task}, "
             f"data-set v{result.version}) on {result.n_test} golden test labels"]
    if result.models:
        lines.append(f"{'model':<16}{'accuracy':>10}{'95% CI':>18}{'macro-F1':>10}{'coverage':>10}{'PR AUC':>8}")
        for name in MODEL_ORDER:
            m = result.models.get(name)
            if m is None:
                continue
            label = f"{name} ({m['lf']})" if name == "best_lf" else name
            ci = f"[{m['accuracy_ci95'][0]:.3f}, {m['accuracy_ci95'][1]:.3f}]"
            lines.append(f"{label:<16}{_fmt(m['accuracy']):>10}{ci:>18}{_fmt(m['macro_f1']):>10}"
                         f"{_fmt(m['coverage']):>10}{_fmt(m.get('pr_auc')):>8}")
        end = result.models.get("end_model")
        if end:
            lines.append("end model per class: " + "; ".join(
                f"{label} P {v['precision']:.2f} R {v['recall']:.2f} F1 {v['f1']:.2f} (n={v['support']})"
                for label, v in end["per_class"].items()))
            lines.append(f"confusion (rows = golden {end['confusion']['labels']}): {end['confusion']['matrix']}")
    if result.warning:
        lines.append(f"WARNING: {result.warning}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/evaluate.sh``: evaluate the latest (or a given) trained model on golden test labels."""
    p = cli.parser("bin/evaluate.sh", "Evaluate end model, label model, majority vote and best LF on the "
                                       "golden test set; store the result in the runs table.")
    add_task_arguments(p)
    p.add_argument("--run", type=int, help="train run id to evaluate (default: latest for the version)")
    p.add_argument("--min-labels", type=int, default=DEFAULT_MIN_LABELS,
                   help=f"warn below this many golden test labels (default {DEFAULT_MIN_LABELS})")
    args = p.parse_args(argv)
    result = evaluate(args.task, args.version, run_id=args.run, min_labels=args.min_labels)
    cli.emit(result, args.json, summary)
    if not result.n_test:
        return cli.EXIT_PARTIAL
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
