"""Benchmark: what MLflow tracking (models/tracking.py) costs a command.

    .venv/bin/python bench/mlflow_tracking.py [--runs 5] [--json]

Measures, on a tiny TF-IDF model saved as training saves it: the import time of mlflow (paid
only when ``MLFLOW_TRACKING_URI`` is set; a subprocess each, median of 3), the seconds of
``tracking.log_train`` into a fresh SQLite store (the first call creates the store's tables)
and into a used one, the seconds of ``tracking.mirror_production`` (registered model, version,
alias), the model directory's size, and, for the record, ``mlflow.keras.log_model`` of the same
Keras model. Target: a used store adds at most 1 s per train run; with tracking off nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from datasets import jsonout  # noqa: E402
from datasets.store.registry import ModelEvent  # noqa: E402
from labeling.task import load_task  # noqa: E402
from models import tracking  # noqa: E402
from models.classifier import TextClassifier  # noqa: E402
from models.params import TrainParams  # noqa: E402
from models.train import MODEL_CARD, TrainResult  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TASK = REPO / "labeling" / "tasks" / "youtube_spam.toml"


def import_seconds(module: str) -> float:
    """Median wall-clock seconds of ``import module`` in a fresh interpreter, of 3."""
    times = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", f"import time; t = time.perf_counter(); import {module}; "
                              "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True, cwd=REPO)
        times.append(float(out.stdout.split()[-1]))
    return round(statistics.median(times), 3)


def saved_model(directory: Path, task_labels: list[str], run_id: int) -> Path:
    """A tiny TF-IDF classifier saved with a model card, as ``models.train.train`` leaves it."""
    texts = [f"subscribe to my channel {i}" for i in range(100)] + [f"love this song {i}" for i in range(100)]
    clf = TextClassifier(task_labels, TrainParams(architecture="tfidf")).fit(texts, np.repeat([1, 0], 100))
    path = directory / f"run-{run_id}"
    clf.save(path)
    (path / MODEL_CARD).write_text(json.dumps({"run_id": run_id, "data_version": 1, "parameters": {"architecture": "tfidf"},
                                               "metrics": {"training": {"seconds": 1.0}}}))
    return path


def timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return round(time.perf_counter() - started, 3)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5, help="train runs logged into the used store (default 5)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    task = load_task(TASK)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.chdir(root)
        os.environ[tracking.ENV] = f"sqlite:///{root / 'mlflow.db'}"
        results = []
        for run_id in range(1, args.runs + 2):
            path = saved_model(root / "models", task.labels, run_id)
            results.append(TrainResult(run_id=run_id, task=task.name, version=1, model_path=str(path), keras="",
                                       saved_model="", architecture="tfidf", golden={"train": 0, "dev": 0, "test": 0},
                                       training={"seconds": 1.0}, selection={"candidates": []}, predictions=200))
        first = timed(tracking.log_train, task, results[0])
        later = [timed(tracking.log_train, task, r) for r in results[1:]]
        event = ModelEvent(id=1, task=task.name, action="promote", run_id=1, previous_run_id=None, actor="bench",
                           reason="bench", forced=False, comparison={}, created_at=datetime.now(timezone.utc))
        promote = timed(tracking.mirror_production, task, event, results[0].model_path)
        if tracking._state["failed"]:
            raise SystemExit("MLflow logging failed (see the warning above)")
        import mlflow
        import mlflow.keras
        clf = TextClassifier.load(Path(results[0].model_path))
        with mlflow.start_run():
            keras_flavour = timed(lambda: mlflow.keras.log_model(clf.model, name="keras_model"))
        size = sum(f.stat().st_size for f in Path(results[0].model_path).rglob("*") if f.is_file())
        os.chdir(REPO)
    report = {"import_mlflow_s": import_seconds("mlflow"), "import_models_train_s": import_seconds("models.train"),
              "log_train_first_s": first, "log_train_median_s": statistics.median(later),
              "log_train_max_s": max(later), "mirror_production_s": promote, "keras_flavour_log_model_s": keras_flavour,
              "model_dir_kb": round(size / 1024, 1), "runs": args.runs}
    print(jsonout.dumps(report) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))


if __name__ == "__main__":
    main()
