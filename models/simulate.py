"""Simulate the annotator from a gold file to compare active-learning strategies.

    result = simulate("gold.csv", "labeling/tasks/youtube_spam.toml", strategies=["entropy", "random"],
                      seeds=3, budget=500, batch=50)

For each strategy and seed the simulation starts with no labels, trains the end model on the
weak labels, then repeatedly ranks the pool with the strategy, "labels" the next batch from the
gold file, retrains (choosing the model by cross-validation, as real training does) and scores
the golden test set, until the budget is spent. Beside the strategies it runs, per seed, the
golden-only baseline: random picks and the best model trained on those golden labels alone, so
the report shows whether the LFs earn their keep; the label model's score and the majority-class
rate are drawn as flat lines.

Simulated labels live in memory only: they are never written to ``human_labels`` (or to the
tagger's queues), so a simulation cannot pollute real golden labels, and real golden labels of
the pool are ignored so every run starts from zero. The test set is the real golden test labels
(or, when there are none, the gold file's labels of the test split); golden dev labels drive
model selection as in real training. Results: ``curves.csv`` (every strategy, seed and round),
``summary.csv`` (mean and standard deviation over seeds), ``learning_curves.png`` (seed bands)
and a ``runs`` row (kind ``simulate``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine
from tqdm import tqdm

from datasets import cli, workspace
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import runs, versions
from datasets.store.db import get_engine
from labeling.import_labels import read_rows, resolve_label
from labeling.label_matrix import ABSTAIN
from labeling.label import run_label
from labeling.task import Task, load_task
from models import data, tracking
from models.active import Pool, rank_pool
from models.cliargs import add_task_arguments
from models.features import Posts
from models.metrics import classification_metrics
from models.params import ActiveParams, TrainParams, active_params, normalize_strategy, train_params
from models.plots import Series, plot_curves
from models.prune import PruneResult, prune
from models.train import fit_selected, training_set


def read_gold(path: str | Path, task: Task, id_column: str = "id", label_column: str = "label") -> pd.Series:
    """Gold labels (class indices) by post id from CSV/TSV/JSONL/parquet; labels by name or index."""
    path = Path(path)
    gold: dict[str, int] = {}
    for where, post_id, value, problem in read_rows(path, id_column, label_column):
        label = resolve_label(task, value, None)
        if problem or post_id in (None, "") or label is None:
            raise GoldloopError(f"{path} {where}: " + (problem or (f"empty {id_column}" if post_id in (None, "")
                                else f"{label_column} {value!r} is not one of {task.labels}")))
        gold[str(post_id)] = task.labels.index(label)
    if not gold:
        raise GoldloopError(f"{path}: no gold labels")
    return pd.Series(gold, name="y")


@dataclass
class Setting:
    """Everything a simulated run needs, loaded once."""

    task: Task
    tparams: TrainParams
    aparams: ActiveParams
    weak: pd.DataFrame
    votes: data.LFVotes
    dev_texts: pd.DataFrame
    dev_golden: pd.DataFrame
    pool: pd.DataFrame         # id, text, split, y (gold)
    pool_posts: Posts          # the pool's model inputs, rows aligned with ``pool``
    label_probs: np.ndarray | None
    test: Posts
    test_y: np.ndarray
    label_model_probs: np.ndarray | None   # on the test posts (NaN rows: no LF voted)


def prepare(engine: Engine, task: Task, version: int, gold: pd.Series, tparams: TrainParams,
            aparams: ActiveParams) -> Setting:
    """Load weak labels, the answerable pool (pool splits with a gold label) and the test set."""
    golden = data.golden_labels(engine, task, version)
    posts = data.read_texts(version, aparams.pool_splits)
    pool = posts[posts["id"].isin(gold.index)].reset_index(drop=True)
    if pool.empty:
        raise GoldloopError(f"no gold-file id is in the pool splits {aparams.pool_splits} of data-set v{version}")
    pool["y"] = gold.reindex(pool["id"]).to_numpy(int)
    test = golden[golden["split"] == "test"][["id", "y"]]
    test_posts = data.read_texts(version, ["test"])
    if test.empty:
        test = pd.DataFrame({"id": test_posts["id"][test_posts["id"].isin(gold.index)]})
        test["y"] = gold.reindex(test["id"]).to_numpy(int)
    if test.empty:
        raise GoldloopError("no golden test labels and no gold-file labels on the test split: nothing to score")
    test = test.merge(test_posts[["id", "text"]], on="id")
    weak = data.read_weak(version, task, tparams.weak_splits)
    try:
        label_probs = weak.set_index("id").reindex(pool["id"])[data.prob_columns(task)].to_numpy()
        label_probs = None if np.isnan(label_probs).any() else label_probs
    except KeyError:
        label_probs = None
    votes = data.lf_votes(engine, task, version)
    return Setting(task=task, tparams=tparams, aparams=aparams, weak=weak, votes=votes,
                   dev_texts=data.read_texts(version, ["dev"]), dev_golden=golden[golden["split"] == "dev"],
                   pool=pool, pool_posts=data.posts(pool, votes), label_probs=label_probs,
                   test=data.posts(test, votes), test_y=test["y"].to_numpy(int),
                   label_model_probs=data.label_model_probs(engine, task, test["id"].tolist()))


def golden_only(params: TrainParams) -> TrainParams:
    """``params`` restricted to models trained on golden labels alone (the baseline)."""
    return dataclasses.replace(params, use_weak=False, lf_features=False, select_weak_modes=["golden_only"])


def simulate_run(s: Setting, strategy: str, seed: int, budget: int, batch: int, bar: tqdm | None = None,
                 baseline: bool = False) -> list[dict[str, Any]]:
    """One strategy and seed: the learning curve as ``labels, accuracy, macro_f1, model`` points.

    ``baseline``: train the best golden-only model instead (:func:`golden_only`); its curve
    starts at the first batch, since there is nothing to train on before.
    """
    tparams = dataclasses.replace(golden_only(s.tparams) if baseline else s.tparams, seed=seed)
    labeled = np.zeros(len(s.pool), dtype=bool)
    points: list[dict[str, Any]] = []
    tuned: str | None = None   # this run's fine-tuned encoder, re-tuned at label milestones as training does
    for round_no in range(budget // batch + 2):
        clf = None
        if labeled.any() or not baseline:
            chosen = s.pool[labeled]
            golden = pd.concat([s.dev_golden[["id", "split", "y"]], chosen[["id", "split", "y"]]], ignore_index=True)
            tset = training_set(s.task, tparams, s.weak, golden, s.dev_texts, s.votes)
            clf, selection = fit_selected(s.task, tparams, tset, previous_encoder=tuned)
            tuned = selection.encoder["name"] if selection.encoder.get("tuned_on") else tuned
            m = classification_metrics(s.test_y, clf.predict(s.test), s.task.labels)
            points.append({"labels": int(labeled.sum()), "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                           "model": selection.chosen, "encoder": selection.encoder.get("name", "")})
        if bar is not None:
            bar.update(1)
        room = min(batch, budget - int(labeled.sum()))
        if room <= 0 or labeled.all():
            break
        rest = np.flatnonzero(~labeled)
        candidates = s.pool_posts.take(rest)
        pool = Pool(ids=[str(i) for i in rest], texts=candidates.texts,
                    end_probs=(clf.predict_proba(candidates) if clf is not None
                               else np.full((len(rest), len(s.task.labels)), 1 / len(s.task.labels))),
                    label_probs=None if s.label_probs is None else s.label_probs[rest],
                    votes=candidates.vote_matrix(), labels=s.task.labels)
        params = dataclasses.replace(s.aparams, batch_size=room, queue_size=room, seed=seed)
        ranked = rank_pool(pool, strategy, params, cold_start=not labeled.any(),
                           embed=None if clf is None else clf.embed, seed=seed * 1000 + round_no)
        labeled[ranked["post_id"].astype(int).to_numpy()] = True
    return points


def average_curves(curves: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Per strategy, mean and standard deviation over seeds of accuracy and macro-F1 at each label count."""
    grouped = curves.groupby(["strategy", "labels"], sort=True)[["accuracy", "macro_f1"]]
    mean, std = grouped.mean().reset_index(), grouped.std(ddof=0).reset_index()
    merged = mean.merge(std, on=["strategy", "labels"], suffixes=("", "_std"))
    return {strategy: [{"labels": int(r.labels), "accuracy": round(float(r.accuracy), 4),
                        "accuracy_std": round(float(r.accuracy_std), 4), "macro_f1": round(float(r.macro_f1), 4),
                        "macro_f1_std": round(float(r.macro_f1_std), 4)} for r in group.itertuples()]
            for strategy, group in merged.groupby("strategy", sort=False)}


def fixed_baselines(s: Setting) -> dict[str, dict[str, float]]:
    """Scores that do not depend on labels bought: the label model (abstaining where no LF
    voted) and always answering the most common test class."""
    out = {}
    if s.label_model_probs is not None:
        covered = ~np.isnan(s.label_model_probs).any(axis=1)
        predicted = np.where(covered, np.nan_to_num(s.label_model_probs).argmax(1), ABSTAIN)
        m = classification_metrics(s.test_y, predicted, s.task.labels)
        out["label_model"] = {"accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4)}
    majority = np.full(len(s.test_y), np.bincount(s.test_y).argmax())
    m = classification_metrics(s.test_y, majority, s.task.labels)
    out["majority_class"] = {"accuracy": round(m["accuracy"], 4), "macro_f1": round(m["macro_f1"], 4)}
    return out


BASELINE = "golden_only"


@dataclass(frozen=True, slots=True)
class SimulationResult(StepResult):
    """One simulation (the ``--json`` output of ``bin/simulate.sh``, docs/loop.md).

    ``run_id`` is its ``runs`` row (kind ``simulate``); ``gold`` to ``batch`` are the settings
    it ran with, ``pool`` the posts the simulated annotator could answer and ``n_test`` the test
    labels scored on. ``curves`` holds, per strategy, the points ``labels``, ``accuracy``,
    ``accuracy_std``, ``macro_f1``, ``macro_f1_std`` (mean and standard deviation over seeds);
    ``baselines`` the golden-only curve and the flat ``label_model`` and ``majority_class``
    scores, which tell whether a strategy (and the LFs) earn their keep; ``csv``,
    ``summary_csv`` and ``png`` are the files written; ``pruned`` the tuned encoders removed at the
    end (None with ``keep_encoders``).
    """

    run_id: int
    task: str
    version: int
    gold: str
    strategies: tuple[str, ...]
    seeds: int
    budget: int
    batch: int
    pool: int
    n_test: int
    curves: dict[str, list[dict[str, Any]]]
    baselines: dict[str, Any]
    csv: str
    summary_csv: str
    png: str
    pruned: PruneResult | None = None


def simulate(gold_path: str | Path, task_path: str | Path | None = None, version: int | None = None, *,
             strategies: Sequence[str] = ("entropy", "random"), seeds: int = 3, budget: int = 500, batch: int = 50,
             id_column: str = "id", label_column: str = "label", out_dir: str | Path | None = None,
             keep_encoders: bool = False, progress: bool = True, engine: Engine | None = None) -> SimulationResult:
    """Run the simulation; return curves per strategy (mean and std over seeds), the baselines
    and the output paths.

    The encoders the runs tuned at label milestones are removed at the end (:mod:`models.prune`;
    they hold about 200 MB each with their caches) unless ``keep_encoders``; the same labels and
    seed tune the same weights, so a second simulation in the same workspace that runs at the
    same time should keep them.
    """
    task = load_task(task_path)
    strategies = tuple(dict.fromkeys(normalize_strategy(s, "--strategies") for s in strategies))
    if seeds < 1 or budget < 1 or batch < 1:
        raise GoldloopError("--seeds, --budget and --batch must be at least 1")
    engine = engine or get_engine()
    with engine.connect() as conn:
        version = versions.resolve(conn, version)
    gold = read_gold(gold_path, task, id_column, label_column)
    label_run = run_label(task.path, version, progress=progress)
    setting = prepare(engine, task, version, gold, train_params(task), active_params(task))
    plan = [(strategy, False) for strategy in strategies] + [("random", True)]
    rounds = len(plan) * seeds * (-(-min(budget, len(setting.pool)) // batch) + 1)
    rows: list[dict[str, Any]] = []
    try:
        with tqdm(total=rounds, desc="simulating", unit="round", disable=not progress) as bar:
            for strategy, baseline in plan:
                for seed in range(seeds):
                    for point in simulate_run(setting, strategy, seed, budget, batch, bar, baseline=baseline):
                        rows.append({"strategy": BASELINE if baseline else strategy, "seed": seed, **point})
    finally:
        # the runs' tuned encoders: made for this simulation, read by nothing once it ends
        pruned = None if keep_encoders else prune(engine, grace_minutes=0, only={r["encoder"] for r in rows})
    curves = pd.DataFrame(rows)
    averaged = average_curves(curves)
    baselines = {BASELINE: averaged.pop(BASELINE), **fixed_baselines(setting)}
    out = Path(out_dir) if out_dir else (workspace.reports_dir() / task.name
                                         / f"simulation-{datetime.now():%Y%m%d-%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    curves.to_csv(out / "curves.csv", index=False)
    pd.DataFrame([{"strategy": s, **p} for s, pts in {**averaged, BASELINE: baselines[BASELINE]}.items()
                  for p in pts]).to_csv(out / "summary.csv", index=False)
    png = plot_curves(_panels(averaged, baselines), "labels (simulated annotator)", out / "learning_curves.png",
                      f"{task.name}: active learning vs random (mean and band of {seeds} seeds)")
    params = {"gold": str(gold_path), "strategies": strategies, "seeds": seeds, "budget": budget, "batch": batch,
              "pool": len(setting.pool), "n_test": len(setting.test_y)}
    with engine.begin() as conn:
        run_id = runs.record(conn, task=task.name, task_hash=task.sha256, version=version, kind="simulate",
                             params=params, metrics={"curves": averaged, "baselines": baselines},
                             lf_run_id=label_run.run_id, golden={"test": len(setting.test_y)})
    result = SimulationResult(run_id=run_id, task=task.name, version=version, **params,
                              curves=averaged, baselines=baselines, csv=str(out / "curves.csv"),
                              summary_csv=str(out / "summary.csv"), png=str(png), pruned=pruned)
    tracking.log_simulation(task, result)
    return result


def _panels(averaged: dict[str, list[dict[str, Any]]], baselines: dict[str, Any]) -> dict[str, dict[str, Series]]:
    """Plot panels: per metric, each strategy and the golden-only baseline with a seed band
    (mean +- std), and the label model and majority class as flat lines."""
    panels: dict[str, dict[str, Series]] = {}
    for metric in ("accuracy", "macro_f1"):
        lines = {name: Series([p["labels"] for p in pts], [p[metric] for p in pts], [p[f"{metric}_std"] for p in pts])
                 for name, pts in {**averaged, f"{BASELINE} (random picks)": baselines[BASELINE]}.items()}
        xs = sorted({x for line in lines.values() for x in line.xs})
        for name in ("label_model", "majority_class"):
            if name in baselines:
                lines[name.replace("_", " ")] = Series([xs[0], xs[-1]], [baselines[name][metric]] * 2, flat=True)
        panels[metric.replace("_", "-")] = lines
    return panels


def summary(result: SimulationResult) -> str:
    """Human summary: one table row per label count, one column pair per strategy and the baseline."""
    columns = {**result.curves, BASELINE: result.baselines[BASELINE]}
    lines = [f"simulation {result.run_id}: task {result.task}, pool {result.pool}, "
             f"{result.n_test} test labels, {result.seeds} seeds (macro-F1 mean +- std over seeds)",
             f"{'labels':>7}  " + "  ".join(f"{s:>15}" for s in columns)]
    by_labels: dict[int, dict[str, dict[str, Any]]] = {}
    for s, points in columns.items():
        for p in points:
            by_labels.setdefault(p["labels"], {})[s] = p
    for labels in sorted(by_labels):
        cells = [by_labels[labels].get(s) for s in columns]
        lines.append(f"{labels:>7}  " + "  ".join(f"{c['macro_f1']:.3f} +- {c['macro_f1_std']:.3f}" if c
                                                  else f"{'-':>15}" for c in cells))
    for name in ("label_model", "majority_class"):
        if name in result.baselines:
            b = result.baselines[name]
            lines.append(f"{name.replace('_', ' ')}: macro-F1 {b['macro_f1']:.3f}, accuracy {b['accuracy']:.3f}")
    if result.pruned is not None and result.pruned.removed:
        lines.append(f"removed the {len(result.pruned.removed)} encoders tuned at label milestones "
                     f"({result.pruned.freed_bytes / 2**20:.0f} MiB; --keep-encoders keeps them)")
    lines.append(f"curves: {result.csv}\nplot: {result.png}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/simulate.sh``: compare strategies with a simulated annotator."""
    p = cli.parser("bin/simulate.sh", "Act as the annotator from a gold file: answer the active-learning queue "
                                       "batch by batch, retrain each round, and write learning curves per strategy.", progress=True)
    p.add_argument("--gold", required=True, help="gold labels file (CSV, TSV, JSONL or parquet) with id and label")
    p.add_argument("--id-column", default="id", help="id column of the gold file (default: id)")
    p.add_argument("--label-column", default="label", help="label column (names or class indices; default: label)")
    add_task_arguments(p)
    p.add_argument("--strategies", default="uncertainty,random",
                   help="comma-separated strategies: entropy (=uncertainty), margin, lf_conflict, disagreement, "
                        "diverse, random (default: uncertainty,random)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per strategy (default 3)")
    p.add_argument("--budget", type=int, default=500, help="labels per run (default 500)")
    p.add_argument("--batch", type=int, default=50, help="labels per round (default 50)")
    p.add_argument("--out", help="output directory (default: $GOLDLOOP_HOME/reports/<task>/simulation-<time>)")
    p.add_argument("--keep-encoders", action="store_true",
                   help="keep the encoders tuned at label milestones (by default removed at the end; "
                        "keep them when another simulation runs in the same workspace at the same time)")
    args = p.parse_args(argv)
    result = simulate(args.gold, args.task, args.version, strategies=[s for s in args.strategies.split(",") if s],
                      seeds=args.seeds, budget=args.budget, batch=args.batch, id_column=args.id_column,
                      label_column=args.label_column, out_dir=args.out, keep_encoders=args.keep_encoders,
                      progress=not args.quiet)
    cli.emit(result, args.json, summary)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
