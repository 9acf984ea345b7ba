"""The project dashboard's figures, gathered from what the steps recorded (HTTP-independent).

One JSON-ready dict serves both ``GET /dashboard`` (rendered, with charts) and ``GET
/api/dashboard``, so the page and the API cannot disagree:

- ``lf_analysis``: the newest LF run on the version (``bin/label.sh``'s ``lf_runs.summary``):
  per LF coverage, overlaps, conflicts, golden precision against its label's prior and the
  "hurts" flag; coverage per split. None before the first run.
- ``models``: label model, end model, majority vote (and the best single LF) per golden split.
  ``test`` is the newest evaluation (``bin/evaluate.sh``, ``runs`` kind ``evaluate``), else the
  LF run's own test scores; ``dev`` is the LF run's label-model and majority-vote scores beside
  the end model's stored predictions scored on the golden dev labels now.
- ``runs``: the newest runs of every kind; ``learning_curve``: each loop iteration's golden
  training labels against each model's macro-F1 on golden test.
- ``golden``: golden labels per split of the version and labels in force per annotator and split.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Connection

from datasets.store import dashboard, runs, votes
from datasets.store.versions import SPLITS
from labeling.task import Task

#: The models a comparison names, in the order ``bin/evaluate.sh`` prints them.
MODELS = ("end_model", "label_model", "majority_vote", "best_lf")
#: The golden splits models are scored on (test for evaluation, dev for choices).
EVAL_SPLITS = ("test", "dev")
RECENT_RUNS = 50


def _iso(value: datetime | None) -> str | None:
    """In UTC, whatever the database session's time zone: the page labels its times UTC."""
    return value.astimezone(timezone.utc).isoformat() if value else None


def _score_row(model: str, scores: Mapping[str, Any], n: int | None = None) -> dict[str, Any]:
    """One model's line of a comparison: ``model``, ``n``, ``accuracy``, ``macro_f1``, ``ci95``
    (the evaluation's Wilson interval of the accuracy, when it has one), ``lf`` (best LF's name)."""
    return {"model": model, "n": scores.get("n", n), "accuracy": scores.get("accuracy"),
            "macro_f1": scores.get("macro_f1"), "ci95": scores.get("accuracy_ci95"), "lf": scores.get("lf")}


def lf_analysis(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The LF run's analysis: its LFs (Snorkel's summary plus golden precision, prior, ``hurts``),
    coverage and posts per split, the golden labels that judged the LFs, the names of the LFs that hurt."""
    if run is None:
        return None
    summary = run["summary"] or {}
    lfs = summary.get("lf_summary", [])
    return {"run_id": run["id"], "version": run["version"], "created_at": _iso(run["created_at"]),
            "lfs": lfs, "hurting": [lf["name"] for lf in lfs if lf.get("hurts")],
            "coverage": summary.get("coverage", {}), "counts": summary.get("counts", {}),
            "lf_golden": summary.get("lf_golden", {}), "fallback": summary.get("label_model_fallback")}


def _lf_run_scores(run: dict[str, Any] | None, split: str) -> list[dict[str, Any]]:
    """The label model's and majority vote's scores the LF run recorded on golden ``split``."""
    summary = (run or {}).get("summary") or {}
    return [_score_row(model, summary[model][split]) for model in ("label_model", "majority_vote")
            if split in summary.get(model, {})]


def end_model_scores(pairs: list[dashboard.GoldenPair], labels: list[str]) -> dict[str, Any] | None:
    """Accuracy and macro-F1 (over every label, as ``bin/label.sh`` scores) of stored predictions
    against golden labels; a post without a prediction counts as wrong. None when no post has one."""
    if not any(p.predicted for p in pairs):
        return None
    from sklearn.metrics import f1_score  # as reports.pairwise_kappa: only the pages that score load it

    golden = [p.golden for p in pairs]
    predicted = [p.predicted or "" for p in pairs]
    return {"n": len(pairs), "accuracy": round(sum(g == p for g, p in zip(golden, predicted)) / len(pairs), 4),
            "macro_f1": round(float(f1_score(golden, predicted, labels=labels, average="macro", zero_division=0)), 4)}


def model_comparison(conn: Connection, task: Task, version: int, lf_run: dict[str, Any] | None) -> dict[str, Any]:
    """Per golden split of ``EVAL_SPLITS``: ``source`` (where the figures come from), ``rows``
    (one per model, in ``MODELS`` order) and ``warning`` (the evaluation's small-sample note)."""
    out: dict[str, Any] = {}
    evaluation = runs.latest(conn, task.name, "evaluate", version)
    if evaluation is not None:
        metrics = evaluation["metrics"]
        found = metrics.get("models", {})
        out["test"] = {"source": f"evaluation run {evaluation['id']}", "warning": metrics.get("warning"),
                       "rows": [_score_row(m, found[m], metrics.get("n_test")) for m in MODELS if m in found]}
    elif lf_run is not None:
        out["test"] = {"source": f"LF run {lf_run['id']} (no evaluation yet: run bin/evaluate.sh)", "warning": None,
                       "rows": _lf_run_scores(lf_run, "test")}
    else:
        out["test"] = {"source": None, "warning": None, "rows": []}
    end = end_model_scores(dashboard.golden_pairs(conn, task.name, "end_model", version, "dev"), task.labels)
    dev_rows = ([_score_row("end_model", end)] if end else []) + _lf_run_scores(lf_run, "dev")
    sources = ([f"LF run {lf_run['id']}"] if lf_run else []) + (["the end model's stored predictions"] if end else [])
    out["dev"] = {"source": " and ".join(sources) or None, "warning": None, "rows": dev_rows}
    return out


def run_row(run: dict[str, Any]) -> dict[str, Any]:
    """A run as the history lists it: what it was, what it used, its headline figure."""
    params, metrics = run["params"] or {}, run["metrics"] or {}
    end = metrics.get("models", {}).get("end_model") or {}
    detail = {"train": params.get("architecture"), "loop": params.get("strategy"),
              "evaluate": f"train run {params['train_run']}" if params.get("train_run") else None}.get(run["kind"])
    return {"id": run["id"], "kind": run["kind"], "version": run["version"], "created_at": _iso(run["created_at"]),
            "parent_id": run["parent_id"], "lf_run_id": run["lf_run_id"], "detail": detail,
            "golden": {"train": run["golden_train"], "dev": run["golden_dev"], "test": run["golden_test"]},
            "end_model_macro_f1": end.get("macro_f1")}


def learning_curve(conn: Connection, task: str) -> list[dict[str, Any]]:
    """Each loop iteration, oldest first: golden labels used (train, test) and each model's
    macro-F1 on golden test (None where the iteration had no such model)."""
    points = []
    for i, run in enumerate(runs.of_task(conn, task, "loop"), start=1):
        models = (run["metrics"] or {}).get("models", {})
        points.append({"iteration": i, "run_id": run["id"], "version": run["version"],
                       "golden_train": run["golden_train"], "golden_test": run["golden_test"],
                       **{m: (models.get(m) or {}).get("macro_f1") for m in MODELS}})
    return points


def golden_progress(conn: Connection, task: str, version: int) -> dict[str, Any]:
    """``splits``: per split (in ``SPLITS`` order) posts, golden labels, conflicts, share labeled;
    ``annotators``: per annotator the labels in force, in total and per split."""
    progress = dashboard.golden_progress(conn, task, version)
    found = {row["split"]: row for row in progress.splits}
    splits = []
    for split in SPLITS:
        row = found.get(split, {"posts": 0, "golden": 0, "conflicts": 0})
        splits.append({"split": split, "posts": row["posts"], "golden": row["golden"], "conflicts": row["conflicts"],
                       "share": round(row["golden"] / row["posts"], 4) if row["posts"] else 0.0})
    people: dict[str, dict[str, int]] = {}
    for row in progress.annotators:
        people.setdefault(row["annotator"], {})[row["split"]] = row["labels"]
    annotators = [{"annotator": name, "total": sum(counts.values()), "by_split": {s: counts.get(s, 0) for s in SPLITS}}
                  for name, counts in people.items()]
    return {"splits": splits, "annotators": annotators}


def collect(conn: Connection, task: Task, version: int | None) -> dict[str, Any]:
    """Every section of the dashboard for ``task`` on data-set ``version`` (None before the first
    split: the version's sections are then empty, the task's run history still shows)."""
    lf_run = votes.latest_run(conn, task.name, version) if version is not None else None
    if lf_run is not None:
        lf_run["summary"] = votes.run_summary(conn, lf_run["id"])
    return {
        "task": task.name, "labels": task.labels, "version": version,
        "lf_analysis": lf_analysis(lf_run),
        "models": (model_comparison(conn, task, version, lf_run) if version is not None
                   else {split: {"source": None, "warning": None, "rows": []} for split in EVAL_SPLITS}),
        "runs": [run_row(run) for run in dashboard.run_history(conn, task.name, RECENT_RUNS)],
        "learning_curve": learning_curve(conn, task.name),
        "golden": (golden_progress(conn, task.name, version) if version is not None
                   else {"splits": [], "annotators": []}),
    }
