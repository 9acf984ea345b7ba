"""One iteration of the loop: weak labels -> train -> evaluate -> refresh the queues.

    result = run_iteration("labeling/tasks/youtube_spam.toml", strategy="entropy", batch_size=50)

Each iteration is recorded in ``runs`` (kind ``loop``); the table of all iterations so far
(golden labels used, macro-F1 of end model, label model, majority vote and best LF) is printed
and drawn as ``$GOLDLOOP_HOME/reports/<task>/learning_curve.png``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from datasets import cli, workspace
from datasets.results import StepResult
from datasets.store import runs, versions
from datasets.store.db import get_engine
from labeling.label import run_label
from labeling.task import load_task
from models import tracking
from models.cliargs import add_task_arguments
from models.evaluate import MODEL_ORDER, evaluate
from models.params import active_params, train_params
from models.plots import Series, plot_curves
from models.tagger_queues import refresh_queues
from models.train import selection_lines, train


@dataclass(frozen=True, slots=True)
class LoopIteration(StepResult):
    """One loop iteration (the ``--json`` output of ``bin/loop.sh``, docs/loop.md).

    The runs it made: ``loop_run`` (kind ``loop``), ``lf_run``, ``train_run`` and
    ``evaluation_run``; the model (``model_path``, its ``selection``) and each model's
    ``macro_f1``, ``accuracy`` and ``accuracy_ci95`` on the ``n_test`` golden test labels in
    ``models``; ``label_model_fallback`` and ``warning`` as in labeling and evaluation; the
    ``queues`` written for the tagger (active and review); ``seconds`` per stage; and
    ``iterations``, the table of every iteration of the task so far (one row each, as the
    learning curve at ``learning_curve`` draws it), so one call shows the whole progress.
    """

    loop_run: int
    task: str
    version: int
    lf_run: int
    train_run: int
    evaluation_run: int
    model_path: str
    selection: dict[str, Any]
    models: dict[str, dict[str, Any]]
    n_test: int
    label_model_fallback: str | None
    warning: str | None
    queues: dict[str, dict[str, Any]]
    seconds: dict[str, float]
    iterations: tuple[dict[str, Any], ...]
    learning_curve: str


class _Stopwatch:
    """Calls a step and records its wall-clock seconds under a name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str, step: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 3)


def iteration_table(engine: Engine, task_name: str) -> pd.DataFrame:
    """All loop iterations of a task: labels used and each model's macro-F1 / accuracy."""
    with engine.connect() as conn:
        loops = runs.of_task(conn, task_name, "loop")
    rows = []
    for i, run in enumerate(loops, start=1):
        models = run["metrics"].get("models", {})
        rows.append({"iteration": i, "run_id": run["id"], "version": run["version"],
                     "created_at": run["created_at"], "golden_train": run["golden_train"],
                     "golden_test": run["golden_test"], "strategy": run["params"].get("strategy"),
                     **{f"{m}_macro_f1": models.get(m, {}).get("macro_f1") for m in MODEL_ORDER},
                     **{f"{m}_accuracy": models.get(m, {}).get("accuracy") for m in MODEL_ORDER}})
    return pd.DataFrame(rows)


def learning_curve(table: pd.DataFrame, task_name: str) -> Path:
    """Draw macro-F1 and accuracy against golden training labels for every model."""
    xs = table["golden_train"].tolist()
    panels = {metric: {m: Series(xs, [None if pd.isna(v) else v for v in table[f"{m}_{key}"]]) for m in MODEL_ORDER}
              for metric, key in (("macro-F1", "macro_f1"), ("accuracy", "accuracy"))}
    return plot_curves(panels, "golden training labels", workspace.reports_dir() / task_name / "learning_curve.png",
                       f"{task_name}: loop iterations")


def run_iteration(task_path: str | Path | None = None, version: int | None = None, *, strategy: str | None = None,
                  batch_size: int | None = None, progress: bool = True, engine: Engine | None = None,
                  tune_in_background: bool = True) -> LoopIteration:
    """Run one loop iteration and return its summary, the iteration table and the plot path.

    At an encoder fine-tuning milestone the tuning runs in a background job and this iteration
    trains on the encoder in use (:func:`models.train.train`), unless ``tune_in_background`` is
    false: a one-off run such as the main job, which nothing follows, tunes first instead.
    """
    task = load_task(task_path)
    engine = engine or get_engine()
    with engine.connect() as conn:
        version = versions.resolve(conn, version)
    aparams = active_params(task, strategy=strategy, batch_size=batch_size)
    tparams = train_params(task)
    clock = _Stopwatch()
    label = clock("label", run_label, task.path, version, progress=progress)
    trained, clf, predictions = clock("train", train, task, version, engine, tparams, progress,
                                      tune_in_background=tune_in_background)
    evaluation = clock("evaluate", evaluate, task.path, version, run_id=trained.run_id, classifier=clf,
                       engine=engine)
    queues = clock("queues", refresh_queues, engine, task, version, clf, aparams, run_id=trained.run_id,
                   predictions=predictions)
    scores = {name: {"macro_f1": m["macro_f1"], "accuracy": m["accuracy"], "accuracy_ci95": m["accuracy_ci95"]}
              for name, m in evaluation.models.items()}
    with engine.begin() as conn:
        loop_id = runs.record(conn, task=task.name, task_hash=task.sha256, version=version, kind="loop",
                              parent_id=trained.run_id, lf_run_id=label.run_id,
                              params={"strategy": aparams.strategy, "batch_size": aparams.batch_size},
                              metrics={"models": scores, "selection": trained.selection,
                                       "n_test": evaluation.n_test, "warning": evaluation.warning,
                                       "evaluation_run": evaluation.run_id, "queues": queues,
                                       "seconds": clock.seconds},
                              model_path=trained.model_path, golden={**trained.golden, "test": evaluation.n_test})
    table = iteration_table(engine, task.name)
    result = LoopIteration(loop_run=loop_id, task=task.name, version=version, lf_run=label.run_id,
                           train_run=trained.run_id, evaluation_run=evaluation.run_id, model_path=trained.model_path,
                           selection=trained.selection, models=scores, n_test=evaluation.n_test,
                           label_model_fallback=label.label_model_fallback, warning=evaluation.warning, queues=queues,
                           seconds=clock.seconds, iterations=tuple(table.drop(columns=["created_at"]).to_dict("records")),
                           learning_curve=str(learning_curve(table, task.name)))
    tracking.log_loop(task, result)
    return result


def _fmt(value: Any) -> str:
    return "   -  " if value is None or pd.isna(value) else f"{value:6.3f}"


def summary(result: LoopIteration) -> str:
    """Human summary: the iteration table, queues, warning and output paths."""
    lines = [f"{'iter':>4} {'run':>5} {'ver':>4} {'golden':>7} {'test':>5}  "
             + " ".join(f"{m:>14}" for m in MODEL_ORDER) + "   (macro-F1)"]
    for row in result.iterations:
        lines.append(f"{row['iteration']:>4} {row['run_id']:>5} {row['version']:>4} {row['golden_train']:>7} "
                     f"{row['golden_test']:>5}  " + " ".join(f"{_fmt(row[f'{m}_macro_f1']):>14}" for m in MODEL_ORDER))
    lines.append(selection_lines(result.selection))
    active, review = result.queues["active"], result.queues["review"]
    lines.append(f"active-learning queue {active['queue_id']}: {active['items']} posts ({active['strategy']}"
                 + (", cold start from LF votes" if active["cold_start"] else "") + ")")
    lines.append(f"label-review queue {review['queue_id']}: {review['items']} of {review['checked']} golden labels"
                 + (f" ({review['skipped']})" if review["skipped"] else ""))
    if result.label_model_fallback:
        lines.append(f"note: {result.label_model_fallback}")
    if result.warning:
        lines.append(f"WARNING: {result.warning}")
    lines.append("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
    lines.append(f"model: {result.model_path}\nlearning curve: {result.learning_curve}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/loop.sh``: one iteration of label -> train -> evaluate -> queue."""
    p = cli.parser("bin/loop.sh", "One loop iteration: weak labels, train, evaluate on golden test labels, "
                                   "refresh the active-learning and review queues; prints all iterations so far.", progress=True)
    add_task_arguments(p)
    p.add_argument("--strategy", help="active-learning strategy (default: [active_learning] strategy)")
    p.add_argument("--batch", type=int, help="active-learning batch size (default: [active_learning] batch_size)")
    args = p.parse_args(argv)
    result = run_iteration(args.task, args.version, strategy=args.strategy, batch_size=args.batch,
                           progress=not args.quiet)
    cli.emit(result, args.json, summary)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
