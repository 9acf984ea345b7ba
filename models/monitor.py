"""``bin/monitor.sh``: is the production model still right about today's posts? (docs/monitor.md)

    bin/monitor.sh                   # one check of the task's live window ([monitor] window, default 24h)
    bin/monitor.sh --window 6h --json
    bin/monitor.sh --retrain         # ... and retrain when a threshold trips or golden labels piled up

A check reads the production predictions stored in the window (``bin/stream.sh``,
``bin/classify.sh``) and measures:

- drift: the PSI of the predicted-label distribution against the reference, the production
  model's own predictions on the train split of the data-set version it was trained on. Both
  sides are the same model's predictions, so its biases cancel and only a change in what the
  posts are like remains. (The weak or golden labels it was trained on would mix the model's
  error into the drift.) The reference is predicted once per production model and kept in the
  check's record; later checks of the same model reuse it;
- confidence: the mean confidence and the share of predictions below ``low_confidence``;
- labeling functions on live posts: the task's LFs (cluster LFs fitted as the production model's
  loader fits them) applied to the window's posts, their coverage and how often the model agrees
  with the LFs' majority.

The task file's ``[monitor]`` table holds the thresholds (docs/tasks.md); with fewer than
``min_posts`` live posts the figures are recorded but judge nothing. A share of the window
(``review_share``, least confident first) becomes the tagger's review sample of live
predictions. With ``--retrain``, a tripped threshold, or ``retrain_after_golden`` golden labels
given since the production model was trained, runs one loop iteration (``models.loop``) and
asks the registry to promote its model, which refuses a model worse on golden test. Every check
and decision is a row of ``monitor_checks``, shown on the live dashboard.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from datasets import cli
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.split_files import SCHEMA, read_split
from datasets.store import monitor, queues, registry, runs, sql
from datasets.store.db import get_engine
from datasets.timestamps import parse_age
from labeling.task import Task, add_task_argument, load_task
from models import drift
from models.production import fitted_applier, load_production

#: At most this many posts are predicted for the reference and given to the LFs per check.
SAMPLE = 20_000
REVIEW_STRATEGY = "low_confidence"


@dataclass(frozen=True, slots=True)
class MonitorResult(StepResult):
    """One check (the ``--json`` output of ``bin/monitor.sh``): its row id, the production run it
    judged, the window, the figures, the thresholds that ``tripped`` (with human ``reasons``),
    the ``decision`` (ok, tripped, promoted, refused, failed), the retrained run and details."""

    check_id: int
    task: str
    production_run: int
    window_start: str
    checked_at: str
    metrics: dict[str, Any]
    tripped: tuple[str, ...]
    reasons: tuple[str, ...]
    decision: str
    new_run: int | None
    detail: dict[str, Any]


def _sample(n: int, size: int) -> np.ndarray:
    """Indices of at most ``size`` of ``n`` rows, the same ones every time (seeded)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(0).choice(n, size, replace=False))


def reference(engine: Engine, task: Task, run_id: int) -> dict[str, Any]:
    """The reference distribution of production run ``run_id``: kept by an earlier check of the
    same run, else its predictions on (a sample of) its version's train split."""
    with engine.connect() as conn:
        for check in monitor.recent(conn, task.name, 20):
            kept = (check["metrics"].get("distribution") or {}).get("reference")
            if check["production_run"] == run_id and kept:
                return {"shares": kept, "posts": check["metrics"]["distribution"]["reference_posts"]}
    model = load_production(engine, task)
    frame = read_split(model.version, "train")
    frame = frame.iloc[_sample(len(frame), SAMPLE)]
    if frame.empty:
        return {"shares": None, "posts": 0}
    probs = model.predict_proba(frame["text"].tolist(), frame["id"].tolist())
    return {"shares": drift.shares([model.labels[i] for i in probs.argmax(1)], model.labels), "posts": len(frame)}


def _posts_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Stored posts as split-file rows (``SCHEMA``), what the labeling functions read."""
    frame = pd.DataFrame(rows, columns=[f.name for f in SCHEMA if f.name in rows[0]] if rows else None)
    for column in ("hashtags", "mentions", "urls", "media_urls"):
        frame[column] = [list(v) if v is not None else [] for v in frame.get(column, [None] * len(frame))]
    frame["is_retweet"] = frame.get("is_retweet", pd.Series(False, index=frame.index)).fillna(False)
    for column, value in (("norm_hash", ""), ("split", "live"), ("version", 0)):
        frame[column] = value
    return frame


def lf_figures(engine: Engine, task: Task, version: int, window: Sequence[Any]) -> dict[str, Any] | None:
    """LF coverage and LF-vs-model agreement on (a sample of) the window's posts; None when the
    task has no labeling functions."""
    if not task.lfs:
        return None
    picked = [window[i] for i in _sample(len(window), SAMPLE)]
    with engine.connect() as conn:
        rows = monitor.posts(conn, [row.post_id for row in picked])
    frame = _posts_frame(rows)
    label_of = {row.post_id: task.labels.index(row.label) for row in picked if row.label in task.labels}
    predicted = np.array([label_of.get(i, -1) for i in frame["id"]], dtype=np.int64)
    votes = fitted_applier(engine, task, version).apply(frame) if len(frame) else np.zeros((0, len(task.lfs)))
    return drift.lf_agreement(votes, predicted, len(task.labels))


def measure(engine: Engine, task: Task, run: dict[str, Any], window: Sequence[Any]) -> dict[str, Any]:
    """Every figure of one check of the ``window``'s production predictions (see the module docstring)."""
    settings = task.monitor
    with engine.connect() as conn:
        golden_new = monitor.golden_since(conn, task.name, run["created_at"])
    ref = reference(engine, task, int(run["id"])) if window else {"shares": None, "posts": 0}
    live = drift.shares([row.label for row in window], task.labels)
    return {
        "posts": len(window), "enough": len(window) >= settings["min_posts"],
        "runs": sorted({row.run_ref for row in window}),
        "distribution": {"live": live, "reference": ref["shares"], "reference_posts": ref["posts"],
                         "psi": drift.psi(ref["shares"], live) if ref["shares"] and window else None},
        "confidence": drift.confidence(np.array([row.confidence for row in window]), settings["low_confidence"]),
        "lfs": lf_figures(engine, task, int(run["version"]), window) if window else None,
        "golden_since_training": golden_new,
        "thresholds": dict(settings),
    }


def tripped(settings: dict[str, Any], metrics: dict[str, Any]) -> list[tuple[str, str]]:
    """The thresholds ``metrics`` break, as (name, reason); the window's figures count only
    when it holds ``min_posts`` posts, new golden labels always."""
    out: list[tuple[str, str]] = []
    if metrics["enough"]:
        psi = metrics["distribution"]["psi"]
        if psi is not None and psi > settings["psi"]:
            out.append(("psi", f"PSI of the predicted labels {psi:.3f} > {settings['psi']:g}"))
        conf = metrics["confidence"]
        if conf["mean"] is not None and conf["mean"] < settings["min_mean_confidence"]:
            out.append(("mean_confidence", f"mean confidence {conf['mean']:.3f} < {settings['min_mean_confidence']:g}"))
        if conf["low_share"] is not None and conf["low_share"] > settings["max_low_confidence_share"]:
            out.append(("low_confidence_share", f"low-confidence share {conf['low_share']:.3f} > "
                                                f"{settings['max_low_confidence_share']:g}"))
        agreement = (metrics["lfs"] or {}).get("agreement")
        if agreement is not None and agreement < settings["min_lf_agreement"]:
            out.append(("lf_agreement", f"LF-vs-model agreement {agreement:.3f} < {settings['min_lf_agreement']:g}"))
    needed = settings["retrain_after_golden"]
    if needed and metrics["golden_since_training"] >= needed:
        out.append(("golden", f"{metrics['golden_since_training']} golden labels since the production model was "
                              f"trained (>= {needed})"))
    return out


def review_sample(engine: Engine, task: Task, run: dict[str, Any], since: datetime,
                  window: Sequence[Any]) -> dict[str, Any] | None:
    """Send ``review_share`` of the ``window`` (at most ``review_max``), least confident first,
    to the tagger's prediction review as a new queue of kind ``production``; None when that is
    no post."""
    settings = task.monitor
    n = min(settings["review_max"], math.ceil(settings["review_share"] * len(window)))
    if n <= 0:
        return None
    with sql.transaction(engine) as conn:
        queue_id = queues.write(conn, task=task.name, kind="production", strategy=REVIEW_STRATEGY,
                                version=int(run["version"]),
                                params={"window_start": since, "share": settings["review_share"]},
                                items=((row.post_id, rank, float(row.confidence), "low confidence first")
                                       for rank, row in enumerate(window[:n], start=1)))
    return {"queue_id": queue_id, "items": n}


def retrain(engine: Engine, task: Task, champion: int, reasons: list[str], progress: bool) -> tuple[str, int | None,
                                                                                                    dict[str, Any]]:
    """One loop iteration, then the registry's promotion of its model (refused when worse on
    golden test than ``champion``): (decision, new train run, details with both scores)."""
    from models import registry as model_registry
    from models.loop import run_iteration

    try:
        loop = run_iteration(task.path, progress=progress, engine=engine)
    except Exception as exc:  # recorded as a failed decision (exit 1): a cron job's history must show it
        return "failed", None, {"error": f"{type(exc).__name__}: {exc}"}
    detail: dict[str, Any] = {"loop_run": loop.loop_run, "version": loop.version}
    try:
        event = model_registry.promote(engine, task, loop.train_run, actor="bin/monitor.sh",
                                       reason="monitor: " + "; ".join(reasons))
    except GoldloopError as exc:
        with engine.connect() as conn:
            candidate = model_registry.trained_run(conn, task, loop.train_run)
            comparison = model_registry.compare(engine, conn, task, candidate, champion)
        return "refused", loop.train_run, {**detail, "refusal": str(exc), "comparison": comparison}
    return "promoted", loop.train_run, {**detail, "event_id": event.id, "comparison": event.comparison}


def check(engine: Engine, task: Task, *, window: str | None = None, retrain_on_trip: bool = False,
          progress: bool = False) -> MonitorResult:
    """One check of ``task``'s production model over the last ``window`` (default: the task's)."""
    age = parse_age(window or task.monitor["window"])
    if age is None:
        raise GoldloopError(f"--window {window!r}: expected an age such as 30m, 24h, 7d or 2w")
    with engine.connect() as conn:
        event = registry.latest_event(conn, task.name)
        if event is None:
            raise GoldloopError(f"no production model for task {task.name}: nothing to monitor "
                                "(bin/model.sh promote RUN)")
        run = runs.get(conn, event.run_id)
        since = monitor.now(conn) - age
        window = monitor.window_predictions(conn, task.name, since)
    metrics = measure(engine, task, run, window)
    metrics["review"] = review_sample(engine, task, run, since, window)
    trips = tripped(task.monitor, metrics)
    reasons = [why for _, why in trips]
    decision, new_run, detail = ("tripped" if trips else "ok"), None, {"reasons": reasons}
    if trips and retrain_on_trip:
        decision, new_run, more = retrain(engine, task, event.run_id, reasons, progress)
        detail.update(more)
    with sql.transaction(engine) as conn:
        row = monitor.record(conn, task=task.name, window_start=since, production_run=event.run_id, metrics=metrics,
                             tripped=[name for name, _ in trips], decision=decision, new_run=new_run, detail=detail)
    return MonitorResult(check_id=row["id"], task=task.name, production_run=event.run_id,
                         window_start=since.astimezone(timezone.utc).isoformat(),
                         checked_at=row["checked_at"].astimezone(timezone.utc).isoformat(), metrics=metrics,
                         tripped=tuple(row["tripped"]), reasons=tuple(reasons), decision=decision, new_run=new_run,
                         detail=detail)


def _num(value: float | None, fmt: str = ".3f") -> str:
    return "-" if value is None else format(value, fmt)


def _human(r: MonitorResult) -> str:
    m = r.metrics
    lfs = m["lfs"] or {}
    lines = [f"check {r.check_id} of task {r.task}, production run {r.production_run}: {m['posts']:,} live posts "
             f"since {r.window_start}" + ("" if m["enough"] else f" (fewer than {m['thresholds']['min_posts']}: "
                                                              "thresholds not judged)"),
             f"PSI {_num(m['distribution']['psi'])} (live {m['distribution']['live']}, reference "
             f"{m['distribution']['reference']}); mean confidence {_num(m['confidence']['mean'])}, low-confidence "
             f"share {_num(m['confidence']['low_share'])}; LF coverage {_num(lfs.get('coverage'))}, "
             f"LF agreement {_num(lfs.get('agreement'))}; {m['golden_since_training']} golden labels since training",
             *[f"tripped: {why}" for why in r.reasons],
             f"decision: {r.decision}" + (f" (run {r.new_run})" if r.new_run else "")]
    extras = [f"refused: {r.detail['refusal']}" if r.detail.get("refusal") else "",
              f"review sample: {m['review']['items']} live predictions queued for the tagger" if m["review"] else ""]
    return "\n".join(lines + [line for line in extras if line])


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/monitor.sh``: one check, and with ``--retrain`` the retraining it calls for."""
    p = cli.parser("bin/monitor.sh", "Check the production model on live posts: drift (PSI), confidence, LF agreement; "
                                 "optionally retrain and promote a better model.", progress=True)
    add_task_argument(p)
    p.add_argument("--window", help="live window to judge: an age such as 30m, 24h, 7d (default: [monitor] window)")
    p.add_argument("--retrain", action="store_true",
                   help="when a threshold trips, run a loop iteration and promote its model if it beats production "
                        "(exit 1 when the iteration fails; the failure is recorded)")
    args = p.parse_args(argv)
    task = load_task(args.task)
    result = check(get_engine(), task, window=args.window, retrain_on_trip=args.retrain, progress=not args.quiet)
    cli.emit(result, args.json, _human)
    return cli.EXIT_ERROR if result.decision == "failed" else cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
