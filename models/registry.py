"""``bin/model.sh``: the model registry, one production model per task (champion/challenger).

    bin/model.sh list                        # production run, the stack below it, every event
    bin/model.sh show RUN                    # one trained run: metrics, where it stands, its events
    bin/model.sh promote RUN --reason "..."  # compare with production on golden test labels, then promote
    bin/model.sh rollback --reason "..."     # back to the model below the current one

Every change is appended to ``model_events`` with who (``--actor``, default the OS user), when
and why; nothing is overwritten, so the history answers "what served on Tuesday". A promotion
scores the candidate and the current production model on the task's golden test labels (the
test split of the candidate's data-set version, labels as they are now) and refuses a candidate
whose macro-F1 is lower, or any promotion when there are no golden test labels to judge by,
unless ``--force``; the first promotion of a task has nothing to beat. The predict API
(``bin/serve.sh``) notices the new event and swaps models without dropping a request.
"""
from __future__ import annotations

import argparse
import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection, Engine

from datasets import cli
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import golden, registry, runs
from datasets.store.db import get_engine
from labeling.task import Task, add_task_argument, load_task
from models import tracking
from models.metrics import classification_metrics
from models.figures import golden_summary, run_metrics
from models.production import load_run, trained_run

LISTED_CANDIDATES = 10  # trained runs `list` shows, newest first


@dataclass(frozen=True, slots=True)
class Candidate(StepResult):
    """A trained run that could be promoted: what ``promote RUN`` needs to pick one."""

    run_id: int
    version: int
    created_at: str
    architecture: str
    test_metrics: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RegistryResult(StepResult):
    """A task's production run, the stack a rollback walks down (bottom first), its events and
    the newest trained runs (``candidates``, newest first), so the run to promote can be chosen."""

    task: str
    production_run: int | None
    stack: list[int]
    events: list[registry.ModelEvent]
    candidates: list[Candidate]


@dataclass(frozen=True, slots=True)
class RunResult(StepResult):
    """One trained run as the registry sees it."""

    task: str
    run_id: int
    version: int
    created_at: str
    model_path: str
    architecture: str
    golden: dict[str, int]
    test_metrics: dict[str, Any]
    in_production: bool
    in_stack: bool
    events: list[registry.ModelEvent]


def actor_name(given: str | None) -> str:
    """``--actor`` or the OS user: who changed production."""
    name = (given if given is not None else getpass.getuser()).strip()
    if not name:
        raise GoldloopError("--actor must not be empty")
    return name


def golden_test(conn: Connection, task: Task, version: int) -> tuple[list[str], list[str], np.ndarray]:
    """Ids, texts and label indices of the task's golden test labels on ``version``'s test split."""
    rows = [r for r in golden.rows(conn, task.name, version, "test") if r["label"] in task.labels]
    return ([r["post_id"] for r in rows], [r["text"] for r in rows],
            np.array([task.labels.index(r["label"]) for r in rows], dtype=int))


def score_run(engine: Engine, task: Task, run_id: int, ids: list[str], texts: list[str],
              y: np.ndarray) -> dict[str, Any]:
    """Golden test figures of train run ``run_id`` on the given posts."""
    probs = load_run(engine, task, run_id).predict_proba(texts, ids)
    metrics = classification_metrics(y, probs.argmax(1), task.labels, proba=probs, positive=task.positive)
    return {"run_id": run_id, **golden_summary(metrics)}


def compare(engine: Engine, conn: Connection, task: Task, candidate: dict[str, Any],
            champion: int | None) -> dict[str, Any]:
    """Both models' golden test figures on the candidate version's golden test labels."""
    ids, texts, y = golden_test(conn, task, int(candidate["version"]))
    comparison: dict[str, Any] = {"version": candidate["version"], "n": len(ids), "candidate": None, "champion": None}
    if ids:
        comparison["candidate"] = score_run(engine, task, int(candidate["id"]), ids, texts, y)
        if champion is not None:
            comparison["champion"] = score_run(engine, task, champion, ids, texts, y)
    return comparison


def refusal(comparison: dict[str, Any], champion: int | None) -> str | None:
    """Why the candidate may not replace ``champion`` without ``--force``, or None."""
    if champion is None:
        return None
    if not comparison["n"]:
        return (f"no golden test labels on data-set v{comparison['version']} to compare the candidate with "
                f"production run {champion}: label the test split (bin/tagger.sh) or pass --force")
    new, old = comparison["candidate"]["macro_f1"], comparison["champion"]["macro_f1"]
    if new < old:
        return (f"candidate macro-F1 {new:.4f} is below production run {champion}'s {old:.4f} on "
                f"{comparison['n']} golden test labels (data-set v{comparison['version']}): pass --force to promote anyway")
    return None


def promote(engine: Engine, task: Task, run_id: int, *, actor: str, reason: str, force: bool = False) -> registry.ModelEvent:
    """Make train run ``run_id`` the task's production model (see the module docstring)."""
    with engine.begin() as conn:
        registry.lock(conn, task.name)  # one change of the task's production model at a time
        candidate = trained_run(conn, task, run_id)
        stack = registry.stack(conn, task.name)
        champion = stack[-1] if stack else None
        if champion == run_id:
            raise GoldloopError(f"run {run_id} is already the production model of task {task.name}")
        comparison = compare(engine, conn, task, candidate, champion)
        why_not = refusal(comparison, champion)
        if why_not and not force:
            raise GoldloopError(why_not)
        event = registry.append(conn, task=task.name, action="promote", run_id=run_id, previous_run_id=champion,
                                actor=actor, reason=reason, forced=bool(why_not), comparison=comparison)
    tracking.mirror_production(task, event, candidate["model_path"])
    return event


def rollback(engine: Engine, task: Task, *, actor: str, reason: str) -> registry.ModelEvent:
    """Put the model below the current production model back into production."""
    with engine.begin() as conn:
        registry.lock(conn, task.name)
        stack = registry.stack(conn, task.name)
        if not stack:
            raise GoldloopError(f"task {task.name} has no production model to roll back")
        if len(stack) < 2:
            raise GoldloopError(f"nothing to roll back to: run {stack[-1]} is the only model task {task.name} "
                                "ever had in production")
        target = trained_run(conn, task, stack[-2])  # its model must still be there to serve
        event = registry.append(conn, task=task.name, action="rollback", run_id=stack[-2], previous_run_id=stack[-1],
                                actor=actor, reason=reason, forced=False, comparison={})
    tracking.mirror_production(task, event, target["model_path"])
    return event


def listing(engine: Engine, task: Task) -> RegistryResult:
    """The task's production run, stack and events."""
    with engine.connect() as conn:
        stack = registry.stack(conn, task.name)
        events = registry.events(conn, task.name)
        candidates = [Candidate(run_id=int(run["id"]), version=int(run["version"]),
                                created_at=run["created_at"].isoformat(),
                                architecture=str(run["params"].get("architecture")),
                                test_metrics=run_metrics(conn, task.name, int(run["id"])))
                      for run in reversed(runs.of_task(conn, task.name, "train")[-LISTED_CANDIDATES:])]
    return RegistryResult(task=task.name, production_run=stack[-1] if stack else None, stack=stack, events=events,
                          candidates=candidates)


def show(engine: Engine, task: Task, run_id: int) -> RunResult:
    """Train run ``run_id``: its golden test figures, whether it serves, and its events."""
    with engine.connect() as conn:
        run = runs.get(conn, run_id)
        if run is None or run["kind"] != "train" or run["task"] != task.name:
            raise GoldloopError(f"run {run_id} is not a train run of task {task.name} (bin/model.sh list shows them)")
        stack = registry.stack(conn, task.name)
        events = [e for e in registry.events(conn, task.name) if run_id in (e.run_id, e.previous_run_id)]
        metrics = run_metrics(conn, task.name, run_id)
    created: datetime = run["created_at"]
    return RunResult(task=task.name, run_id=run_id, version=int(run["version"]), created_at=created.isoformat(),
                     model_path=str(run["model_path"]), architecture=str(run["params"].get("architecture")),
                     golden={"train": run["golden_train"], "dev": run["golden_dev"], "test": run["golden_test"]},
                     test_metrics=metrics, in_production=bool(stack) and stack[-1] == run_id, in_stack=run_id in stack,
                     events=events)


def _figure(scored: dict[str, Any] | None) -> str:
    return "-" if not scored else f"macro-F1 {scored['macro_f1']:.4f}"


def event_line(e: registry.ModelEvent) -> str:
    """One event as a line of text."""
    detail = ""
    if e.action == "promote" and e.comparison.get("n"):
        detail = (f" [{_figure(e.comparison.get('candidate'))} vs {_figure(e.comparison.get('champion'))}"
                  f" on {e.comparison['n']} golden test labels]")
    forced = " (forced)" if e.forced else ""
    return (f"#{e.id} {e.created_at.isoformat()} {e.action}{forced} -> run {e.run_id} (was {e.previous_run_id}) "
            f"by {e.actor}: {e.reason or '-'}{detail}")


def _listing_text(r: RegistryResult) -> str:
    head = (f"task {r.task}: production run {r.production_run}, stack {r.stack} (rollback goes down it)"
            if r.production_run is not None else f"task {r.task}: no production model yet (bin/model.sh promote RUN)")
    runs_seen = [f"run {c.run_id}{' (production)' if c.run_id == r.production_run else ''}: {c.created_at}, "
                 f"data-set v{c.version}, {c.architecture}, golden test {_figure(c.test_metrics or None)}"
                 for c in r.candidates]
    return "\n".join([head, *map(event_line, r.events), f"trained runs (newest {LISTED_CANDIDATES}):", *runs_seen])


def _show_text(r: RunResult) -> str:
    status = "in production" if r.in_production else ("on the rollback stack" if r.in_stack else "not in production")
    test = (f"golden test: macro-F1 {r.test_metrics['macro_f1']:.4f}, accuracy {r.test_metrics['accuracy']:.4f} "
            f"(n={r.test_metrics['n']})" if r.test_metrics.get("n") else "golden test: not scored yet")
    return "\n".join([f"run {r.run_id} of task {r.task} ({r.architecture}, data-set v{r.version}, {r.created_at}): "
                      f"{status}", test, f"model: {r.model_path}", *map(event_line, r.events)])


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/model.sh``: list, show, promote or roll back a task's production model."""
    p = cli.parser("bin/model.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    add_task_argument(p)
    # --task and --json also after the subcommand (SUPPRESS: absent there, the main parser's value stays)
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    add_task_argument(common)
    common.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    sub = p.add_subparsers(dest="command", required=True, metavar="list|show|promote|rollback")
    sub.add_parser("list", parents=[common], help="production run, rollback stack and every event of the task")
    shown = sub.add_parser("show", parents=[common], help="one trained run: golden test figures, status, events")
    shown.add_argument("run", type=int, help="train run id")
    for name, helptext in (("promote", "make a trained run the production model"),
                           ("rollback", "put the previous production model back")):
        change = sub.add_parser(name, parents=[common], help=helptext)
        if name == "promote":
            change.add_argument("run", type=int, help="train run id (bin/train.sh and bin/loop.sh print it)")
            change.add_argument("--force", action="store_true",
                                help="promote even when it scores below production or there are no golden test labels")
        change.add_argument("--reason", required=True, help="why (recorded with the event)")
        change.add_argument("--actor", help="who (default: the OS user)")
    args = p.parse_args(argv)
    task = load_task(args.task)
    engine = get_engine()
    if args.command == "list":
        cli.emit(listing(engine, task), args.json, _listing_text)
    elif args.command == "show":
        cli.emit(show(engine, task, args.run), args.json, _show_text)
    elif args.command == "promote":
        cli.emit(promote(engine, task, args.run, actor=actor_name(args.actor), reason=args.reason, force=args.force),
                 args.json, event_line)
    else:
        cli.emit(rollback(engine, task, actor=actor_name(args.actor), reason=args.reason), args.json, event_line)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
