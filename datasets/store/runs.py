"""The ``runs`` table: the history of trainings, evaluations, loop iterations and simulations.

A run row is what later steps read back: evaluation finds the train run it scores (its model
path, LF run and golden counts), the loop table lists every iteration's metrics. ``params`` and
``metrics`` are JSON documents so each kind can record what it needs without a migration.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets import jsonout

_INSERT = sa.text(
    "INSERT INTO runs (task, task_hash, version, kind, parent_id, lf_run_id, params, metrics, model_path,"
    " golden_train, golden_dev, golden_test)"
    " VALUES (:task, :task_hash, :version, :kind, :parent_id, :lf_run_id, CAST(:params AS jsonb),"
    " CAST(:metrics AS jsonb), :model_path, :golden_train, :golden_dev, :golden_test) RETURNING id")


def record(conn: Connection, *, task: str, task_hash: str, version: int | None, kind: str,
           params: dict[str, Any], metrics: dict[str, Any], parent_id: int | None = None,
           lf_run_id: int | None = None, model_path: str | None = None,
           golden: dict[str, int] | None = None) -> int:
    """Insert one run of ``kind`` in the caller's transaction and return its id.

    ``golden`` counts the golden labels per role (``train``, ``dev``, ``test``; missing = 0).
    ``params`` and ``metrics`` go through :func:`datasets.jsonout.dumps`: NaN becomes null
    (``jsonb`` refuses NaN) and paths or timestamps their text, so a step records them as they are.
    """
    golden = golden or {}
    return int(conn.execute(_INSERT, {
        "task": task, "task_hash": task_hash, "version": version, "kind": kind, "parent_id": parent_id,
        "lf_run_id": lf_run_id, "params": jsonout.dumps(params),
        "metrics": jsonout.dumps(metrics), "model_path": model_path,
        "golden_train": golden.get("train", 0), "golden_dev": golden.get("dev", 0),
        "golden_test": golden.get("test", 0)}).scalar_one())


def set_model_path(conn: Connection, run_id: int, model_path: str) -> None:
    """Point run ``run_id`` at its saved model: known only once the run id named the directory."""
    conn.execute(sa.text("UPDATE runs SET model_path = :path WHERE id = :id"), {"path": model_path, "id": run_id})


def get(conn: Connection, run_id: int) -> dict[str, Any] | None:
    """Run ``run_id`` as a dict of its columns, or None."""
    row = conn.execute(sa.text("SELECT * FROM runs WHERE id = :id"), {"id": run_id}).mappings().first()
    return dict(row) if row else None


def latest(conn: Connection, task: str | None, kind: str, version: int | None = None) -> dict[str, Any] | None:
    """The newest run of ``kind`` (of ``task`` and on ``version`` when given), or None.

    Without a task it is the newest of any task: what a report opened without naming one shows.
    """
    row = conn.execute(sa.text(
        "SELECT * FROM runs WHERE kind = :kind AND (CAST(:task AS text) IS NULL OR task = :task)"
        " AND (CAST(:version AS integer) IS NULL OR version = :version) ORDER BY id DESC LIMIT 1"),
        {"task": task, "kind": kind, "version": version}).mappings().first()
    return dict(row) if row else None


def of_task(conn: Connection, task: str, kind: str) -> list[dict[str, Any]]:
    """Every run of ``kind`` of the task, oldest first (``params``/``metrics`` as dicts)."""
    rows = conn.execute(sa.text("SELECT * FROM runs WHERE task = :task AND kind = :kind ORDER BY id"),
                        {"task": task, "kind": kind}).mappings().all()
    return [dict(r) for r in rows]


def latest_child(conn: Connection, parent_id: int, kind: str) -> dict[str, Any] | None:
    """The newest run of ``kind`` whose parent is run ``parent_id`` (a train run's latest evaluation), or None."""
    row = conn.execute(sa.text("SELECT * FROM runs WHERE parent_id = :parent AND kind = :kind ORDER BY id DESC LIMIT 1"),
                       {"parent": parent_id, "kind": kind}).mappings().first()
    return dict(row) if row else None


def encoders_named(conn: Connection, prefix: str) -> set[str]:
    """Every encoder name starting with ``prefix`` that some run's ``params`` record: the encoders
    a saved model (and so the registry's production model) reads when it is loaded."""
    rows = conn.execute(sa.text("SELECT DISTINCT params->>'encoder' FROM runs"
                                " WHERE starts_with(params->>'encoder', :prefix)"), {"prefix": prefix})
    return set(rows.scalars())
