"""The ``model_events`` table: which trained run of a task is in production, and its history.

Events are only ever appended. The production run is the replay of a task's events as a stack:
``promote`` pushes its run, ``rollback`` pops back to the run below. ``latest_event_id`` is the
cheap question a serving process asks (at most once a second) to notice a new production model.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets import jsonout
from datasets.results import StepResult


@dataclass(frozen=True, slots=True)
class ModelEvent(StepResult):
    """One promotion or rollback of a task's production model (also what ``bin/model.sh`` prints)."""

    id: int
    task: str
    action: str
    run_id: int
    previous_run_id: int | None
    actor: str
    reason: str
    forced: bool
    comparison: dict[str, Any]
    created_at: datetime


_COLUMNS = "id, task, action, run_id, previous_run_id, actor, reason, forced, comparison, created_at"


def events(conn: Connection, task: str) -> list[ModelEvent]:
    """Every event of ``task``, oldest first."""
    rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM model_events WHERE task = :task ORDER BY id"),
                        {"task": task}).all()
    return [ModelEvent(*row) for row in rows]


def stack(conn: Connection, task: str) -> list[int]:
    """The task's production stack of run ids, bottom first (the last is in production).

    Replays the events: a promotion pushes its run, a rollback pops one. Taking the lock on the
    task's events first (``lock``) makes a read-then-append atomic against another promotion.
    """
    runs: list[int] = []
    for event in events(conn, task):
        if event.action == "promote":
            runs.append(event.run_id)
        elif runs:
            runs.pop()
    return runs


def lock(conn: Connection, task: str) -> None:
    """Serialise changes of ``task``'s production model until the caller's transaction ends."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('model_events:' || :task))"), {"task": task})


def append(conn: Connection, *, task: str, action: str, run_id: int, previous_run_id: int | None, actor: str,
           reason: str, forced: bool, comparison: dict[str, Any]) -> ModelEvent:
    """Append one event in the caller's transaction and return it."""
    row = conn.execute(sa.text(
        "INSERT INTO model_events (task, action, run_id, previous_run_id, actor, reason, forced, comparison)"
        " VALUES (:task, :action, :run_id, :previous_run_id, :actor, :reason, :forced, CAST(:comparison AS jsonb))"
        f" RETURNING {_COLUMNS}"),
        {"task": task, "action": action, "run_id": run_id, "previous_run_id": previous_run_id, "actor": actor,
         "reason": reason, "forced": forced, "comparison": jsonout.dumps(comparison)}).one()
    return ModelEvent(*row)


def latest_event(conn: Connection, task: str) -> ModelEvent | None:
    """The task's newest event, or None when its production model was never set."""
    row = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM model_events WHERE task = :task ORDER BY id DESC LIMIT 1"),
                       {"task": task}).first()
    return ModelEvent(*row) if row else None


def latest_event_id(conn: Connection, task: str) -> int | None:
    """Id of the task's newest event (one index look-up), or None."""
    return conn.execute(sa.text("SELECT max(id) FROM model_events WHERE task = :task"), {"task": task}).scalar()
