"""The ``runs`` table: history of trainings, evaluations, loop iterations and simulations."""
from __future__ import annotations

import json
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from labeling.task import Task

_INSERT = sa.text(
    "INSERT INTO runs (task, task_hash, version, kind, parent_id, lf_run_id, params, metrics, model_path,"
    " golden_train, golden_dev, golden_test)"
    " VALUES (:task, :hash, :version, :kind, :parent, :lf_run, CAST(:params AS jsonb), CAST(:metrics AS jsonb),"
    " :model_path, :gtrain, :gdev, :gtest) RETURNING id")


def insert_run(conn: Connection, task: Task, version: int | None, kind: str, *, params: dict[str, Any],
               metrics: dict[str, Any], parent_id: int | None = None, lf_run_id: int | None = None,
               model_path: str | None = None, golden: dict[str, int] | None = None) -> int:
    """Insert one run inside the caller's transaction; return its id."""
    golden = golden or {}
    return int(conn.execute(_INSERT, {
        "task": task.name, "hash": task.sha256, "version": version, "kind": kind, "parent": parent_id,
        "lf_run": lf_run_id, "params": json.dumps(params, default=str), "metrics": json.dumps(metrics, default=str),
        "model_path": model_path, "gtrain": golden.get("train", 0), "gdev": golden.get("dev", 0),
        "gtest": golden.get("test", 0)}).scalar())


def get_run(engine: Engine, run_id: int) -> dict[str, Any] | None:
    """One run as a dict, or None."""
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM runs WHERE id = :i"), {"i": run_id}).mappings().first()
    return dict(row) if row else None


def latest_run(engine: Engine, task: Task, kind: str, version: int | None = None) -> dict[str, Any] | None:
    """The task's newest run of ``kind`` (on ``version`` when given), or None."""
    sql = "SELECT * FROM runs WHERE task = :t AND kind = :k" + (" AND version = :v" if version is not None else "")
    with engine.connect() as conn:
        row = conn.execute(sa.text(sql + " ORDER BY id DESC LIMIT 1"),
                           {"t": task.name, "k": kind, "v": version}).mappings().first()
    return dict(row) if row else None


def list_runs(engine: Engine, task_name: str, kind: str) -> pd.DataFrame:
    """All runs of ``kind`` for a task, oldest first (``params``/``metrics`` as dicts)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM runs WHERE task = :t AND kind = :k ORDER BY id"),
                            {"t": task_name, "k": kind}).mappings().all()
    return pd.DataFrame([dict(r) for r in rows])
