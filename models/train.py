"""Train the end model on weak labels plus golden labels, save it, and record the run.

Training data: every post of the ``weak_splits`` (default LF + train) that at least one LF
covered, with the label model's class probabilities as soft targets; golden labels on those
splits replace the soft target with a one-hot target and weigh ``golden_weight`` times more.
Golden dev labels drive early stopping. The model goes to
``$GOLDLOOP_HOME/models/<task>/run-<id>/`` (``model.keras``, ``saved_model/``,
``model_card.json``), its predictions on every split of the version to ``predictions``
(source ``end_model``), and the run to ``runs`` (kind ``train``), all or nothing.
"""
from __future__ import annotations

import io
import json
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Connection, Engine

from datasets import cli, workspace
from datasets.db import get_engine
from datasets.errors import GoldloopError
from datasets.export import SPLITS
from datasets.splits import latest_version
from labeling.task import Task, load_task
from models import data
from models.cliargs import add_task_arguments
from models.classifier import TextClassifier
from models.params import TrainParams, train_params
from models.runs import insert_run

MODEL_CARD = "model_card.json"


@dataclass
class TrainingSet:
    """Inputs of one fit: texts, soft/hard targets, sample weights and the golden dev set."""

    texts: list[str]
    targets: np.ndarray
    weights: np.ndarray
    dev_texts: list[str]
    dev_y: np.ndarray
    counts: dict[str, int]


def training_set(task: Task, params: TrainParams, weak: pd.DataFrame, golden: pd.DataFrame,
                 dev_texts: pd.DataFrame) -> TrainingSet:
    """Combine weak rows (``data.read_weak``) and golden labels (``data.golden_labels``).

    ``dev_texts`` holds ``id, text`` of the dev split. Golden labels outside the weak splits
    and the dev split (e.g. test) are never used for training.
    """
    probs = data.prob_columns(task)
    golden_pool = golden[golden["split"].isin(params.weak_splits)]
    golden_rows = golden_pool.merge(weak[["id", "text"]], on="id", how="inner")
    weak_rows = weak[weak["covered"].astype(bool) & ~weak["id"].isin(golden_rows["id"])]
    k = len(task.labels)
    soft = weak_rows[probs].to_numpy("float64") ** (1.0 / params.target_temperature)
    soft = soft / np.maximum(soft.sum(axis=1, keepdims=True), 1e-12)
    targets = np.vstack([soft.astype("float32"),
                         np.eye(k, dtype="float32")[golden_rows["y"].to_numpy(int)]])
    weights = np.concatenate([np.ones(len(weak_rows), "float32"),
                              np.full(len(golden_rows), params.golden_weight, "float32")])
    if not len(targets):
        raise GoldloopError(f"nothing to train {task.name!r} on: no LF covers any post and no golden labels"
                            f" on splits {params.weak_splits}")
    dev = golden[golden["split"] == "dev"].merge(dev_texts[["id", "text"]], on="id", how="inner")
    return TrainingSet(texts=weak_rows["text"].tolist() + golden_rows["text"].tolist(), targets=targets,
                       weights=weights, dev_texts=dev["text"].tolist(), dev_y=dev["y"].to_numpy(int),
                       counts={"weak": len(weak_rows), "golden_train": len(golden_rows), "golden_dev": len(dev),
                               "uncovered_dropped": int((~weak["covered"].astype(bool)).sum())})


def fit_classifier(task: Task, params: TrainParams, tset: TrainingSet) -> TextClassifier:
    """Fit a fresh :class:`TextClassifier` on ``tset`` (early stopping when golden dev exists)."""
    clf = TextClassifier(task.labels, params)
    validation = (tset.dev_texts, tset.dev_y) if tset.dev_texts else None
    return clf.fit(tset.texts, tset.targets, sample_weight=tset.weights, validation=validation)


def golden_counts(golden: pd.DataFrame, params: TrainParams) -> dict[str, int]:
    """Golden labels per role: ``train`` (on the weak splits), ``dev`` and ``test``."""
    return {"train": int(golden["split"].isin(params.weak_splits).sum()),
            "dev": int((golden["split"] == "dev").sum()), "test": int((golden["split"] == "test").sum())}


def write_predictions(conn: Connection, task: Task, version: int, run_id: int, ids: Sequence[str],
                      probs: np.ndarray) -> int:
    """Upsert end-model predictions (``predictions``, source ``end_model``) with COPY, in ``conn``'s transaction."""
    best = probs.argmax(axis=1)
    buffer = io.StringIO()
    for post_id, row, b in zip(ids, probs, best):
        probs_json = json.dumps({label: round(float(p), 6) for label, p in zip(task.labels, row)})
        buffer.write("\t".join([post_id, task.labels[b], f"{row[b]:.6f}",
                                probs_json.replace("\\", "\\\\")]) + "\n")
    buffer.seek(0)
    cursor = conn.connection.cursor()
    cursor.execute("CREATE TEMP TABLE end_preds (post_id text, label text, confidence real, probs jsonb)"
                   " ON COMMIT DROP")
    cursor.copy_expert("COPY end_preds FROM STDIN", buffer)
    cursor.execute(
        "INSERT INTO predictions (task, source, post_id, version, label, confidence, probs, run_ref, created_at)"
        " SELECT %s, 'end_model', post_id, %s, label, confidence, probs, %s, now() FROM end_preds"
        " ON CONFLICT (task, source, post_id) DO UPDATE SET version = EXCLUDED.version, label = EXCLUDED.label,"
        " confidence = EXCLUDED.confidence, probs = EXCLUDED.probs, run_ref = EXCLUDED.run_ref,"
        " created_at = EXCLUDED.created_at", (task.name, version, str(run_id)))
    cursor.execute("DROP TABLE end_preds")
    return len(ids)


def run_dir(task: Task, run_id: int) -> Path:
    """Directory of a trained model: ``models_dir()/<task>/run-<id>``."""
    return workspace.models_dir() / task.name / f"run-{run_id}"


def train(task: Task, version: int, engine: Engine, params: TrainParams,
          progress: bool = True) -> tuple[dict[str, Any], TextClassifier, pd.DataFrame]:
    """Train, save and record one model.

    Returns the summary, the fitted classifier and its predictions on every post of the version
    (indexed by post id, one probability column per label).
    """
    weak = data.read_weak(version, task, params.weak_splits)
    golden = data.golden_labels(engine, task, version)
    dev_texts = data.read_texts(version, ["dev"])
    tset = training_set(task, params, weak, golden, dev_texts)
    _say(progress, f"training {params.architecture} on {tset.counts['weak']} weak + "
                   f"{tset.counts['golden_train']} golden labels (dev: {tset.counts['golden_dev']})")
    started = time.perf_counter()
    clf = fit_classifier(task, params, tset)
    seconds = time.perf_counter() - started
    everything = data.read_texts(version, SPLITS)
    _say(progress, f"predicting {len(everything)} posts")
    probs = clf.predict_proba(everything["text"].tolist())
    lf_run_id = data.latest_lf_run(engine, task, version)
    golden_n = golden_counts(golden, params)
    training = {**tset.counts, "epochs_run": len(clf.epoch_seconds), "seconds": round(seconds, 3),
                "seconds_per_epoch": round(float(np.mean(clf.epoch_seconds)), 4),
                "final_loss": clf.history.get("loss", [None])[-1],
                "best_val_loss": min(clf.history["val_loss"]) if "val_loss" in clf.history else None}
    tmp: Path | None = None
    with engine.begin() as conn:
        run_id = insert_run(conn, task, version, "train", params=asdict(params), metrics={"training": training},
                            lf_run_id=lf_run_id, golden=golden_n)
        final = run_dir(task, run_id)
        tmp = final.with_name(f".{final.name}.tmp")
        try:
            paths = clf.save(tmp)
            card = {"task": task.name, "task_file": str(task.path), "task_hash": task.sha256,
                    "data_version": version, "run_id": run_id, "lf_run_id": lf_run_id,
                    "created_at": datetime.now(timezone.utc).isoformat(), "labels": task.labels,
                    "parameters": asdict(params), "golden_labels": golden_n, "metrics": {"training": training}}
            (tmp / MODEL_CARD).write_text(json.dumps(card, indent=2, default=str))
            write_predictions(conn, task, version, run_id, everything["id"].tolist(), probs)
            conn.exec_driver_sql("UPDATE runs SET model_path = %s WHERE id = %s", (str(final), run_id))
            tmp.rename(final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    result = {"run_id": run_id, "task": task.name, "version": version, "model_path": str(final),
              "keras": str(final / Path(paths["keras"]).name), "saved_model": str(final / Path(paths["saved_model"]).name),
              "architecture": params.architecture, "golden": golden_n, "training": training,
              "predictions": len(everything)}
    return result, clf, pd.DataFrame(probs, index=everything["id"].to_numpy(), columns=task.labels)


def update_model_card(model_path: str | Path, **fields: Any) -> None:
    """Merge ``fields`` into a saved model's ``model_card.json`` (metrics after evaluation)."""
    path = Path(model_path) / MODEL_CARD
    card = json.loads(path.read_text())
    for key, value in fields.items():
        card[key] = {**card.get(key, {}), **value} if isinstance(value, dict) else value
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(card, indent=2, default=str))
    tmp.replace(path)


def train_model(task_path: str | Path | None = None, version: int | None = None, *, engine: Engine | None = None,
                progress: bool = True, **overrides: Any) -> dict[str, Any]:
    """Train the task's end model on ``version`` (default: latest); ``overrides`` patch ``[train]``."""
    task = load_task(task_path)
    engine = engine or get_engine()
    version = version if version is not None else latest_version(engine)
    result, _, _ = train(task, version, engine, train_params(task, **overrides), progress)
    return result


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, flush=True, file=sys.stderr)


def _summary(r: dict[str, Any]) -> str:
    t = r["training"]
    return (f"trained run {r['run_id']} ({r['architecture']}) on data-set v{r['version']}: "
            f"{t['weak']} weak + {t['golden_train']} golden labels, {t['epochs_run']} epochs, "
            f"{t['seconds_per_epoch']:.2f} s/epoch\n"
            f"model: {r['keras']}\nTF Serving export: {r['saved_model']}")


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/train.sh``: train the end model once."""
    p = cli.parser("bin/train.sh", "Train the end model on weak + golden labels and save it.")
    add_task_arguments(p)
    p.add_argument("--architecture", choices=["tfidf", "bilstm"], help="override [train] architecture")
    p.add_argument("--epochs", type=int, help="override [train] epochs")
    p.add_argument("--seed", type=int, help="override [train] seed")
    args = p.parse_args(argv)
    result = train_model(args.task, args.version, progress=not args.json, architecture=args.architecture,
                         epochs=args.epochs, seed=args.seed)
    cli.emit(result, args.json, _summary)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
