"""``monitor_checks`` (every decision of ``bin/monitor.sh``) and what a check reads: the production
predictions of a live window, the posts behind them, and the golden labels given since a time.

A check appends one row and never updates it, so the table is the history the live dashboard
shows: what was measured, which thresholds tripped, and whether a retrained model was promoted
or refused (sql/020_monitor.sql).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets import jsonout
from datasets.split_files import POST_COLUMNS

SOURCE = "production"
DECISIONS = ("ok", "tripped", "promoted", "refused", "failed")
_COLUMNS = "id, task, checked_at, window_start, production_run, metrics, tripped, decision, new_run, detail"


def now(conn: Connection) -> datetime:
    """The database's clock: windows are measured against the time predictions are stamped with."""
    return conn.execute(sa.text("SELECT clock_timestamp()")).scalar_one()


def window_predictions(conn: Connection, task: str, since: datetime) -> list[Any]:
    """The production predictions of ``task`` stored since ``since``: ``post_id``, ``label``,
    ``confidence``, ``run_ref``, ``created_at`` (least confident first, the review order)."""
    return conn.execute(sa.text(
        "SELECT post_id, label, confidence, run_ref, created_at FROM predictions"
        " WHERE task = :task AND source = :source AND created_at >= :since ORDER BY confidence, post_id"),
        {"task": task, "source": SOURCE, "since": since}).all()


def posts(conn: Connection, ids: Sequence[str]) -> list[dict[str, Any]]:
    """The stored posts ``ids`` with the split files' post columns (what labeling functions read)."""
    columns = ", ".join(POST_COLUMNS)
    rows = conn.execute(sa.text(f"SELECT {columns} FROM raw_posts WHERE id = ANY(:ids) ORDER BY id"),
                        {"ids": list(ids)}).mappings()
    return [dict(row) for row in rows]


def golden_since(conn: Connection, task: str, since: datetime) -> int:
    """Posts of ``task`` given a label (in force, not undone) after ``since``: new golden labels."""
    return int(conn.execute(sa.text(
        "SELECT count(DISTINCT post_id) FROM annotator_labels"
        " WHERE task = :task AND action IN ('label', 'resolve') AND created_at > :since"),
        {"task": task, "since": since}).scalar_one())


def record(conn: Connection, *, task: str, window_start: datetime, production_run: int | None,
           metrics: dict[str, Any], tripped: Sequence[str], decision: str, new_run: int | None = None,
           detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """Append one check in the caller's transaction and return it as stored."""
    if decision not in DECISIONS:
        raise ValueError(f"unknown decision {decision!r}; expected one of {DECISIONS}")
    row = conn.execute(sa.text(
        "INSERT INTO monitor_checks (task, window_start, production_run, metrics, tripped, decision, new_run, detail)"
        " VALUES (:task, :window_start, :production_run, CAST(:metrics AS jsonb), :tripped, :decision, :new_run,"
        f" CAST(:detail AS jsonb)) RETURNING {_COLUMNS}"),
        {"task": task, "window_start": window_start, "production_run": production_run,
         "metrics": jsonout.dumps(metrics), "tripped": list(tripped), "decision": decision, "new_run": new_run,
         "detail": jsonout.dumps(detail or {})}).mappings().one()
    return dict(row)


def recent(conn: Connection, task: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` checks of ``task``, newest first."""
    rows = conn.execute(sa.text(f"SELECT {_COLUMNS} FROM monitor_checks WHERE task = :task ORDER BY id DESC"
                                " LIMIT :limit"), {"task": task, "limit": limit}).mappings()
    return [dict(row) for row in rows]
