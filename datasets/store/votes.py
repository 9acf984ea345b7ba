"""LF runs and their votes (``lf_runs``, ``lf_votes``): what ``bin/label.sh`` records, and what
the training loop and the tagger read back.

A run row names its LFs and labels in the order its votes use them, so a stored vote (an index
into the run's labels, -1 = abstain) is read against the names it was cast with, even after the
task file has changed. Its weak labels, the combined votes, are the run's ``label_model``
predictions (``datasets.store.predictions``), written in the same transaction.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets import jsonout
from datasets.errors import GoldloopError
from datasets.store import sql

_INSERT_RUN = sa.text(
    "INSERT INTO lf_runs (task, task_hash, version, lf_names, label_names, summary, params)"
    " VALUES (:task, :task_hash, :version, :lf_names, :label_names, CAST(:summary AS jsonb),"
    " CAST(:params AS jsonb)) RETURNING id")


class RunVotes(NamedTuple):
    """The stored votes of one run: ``matrix[i, j]`` is the vote of LF ``lf_names[j]`` on post
    ``post_ids[i]`` (an index into ``label_names``, -1 = abstain); rows in post id order."""

    lf_names: list[str]
    label_names: list[str]
    post_ids: list[str]
    matrix: np.ndarray


def record_run(conn: Connection, *, task: str, task_hash: str, version: int, lf_names: Sequence[str],
               label_names: Sequence[str], summary: dict[str, Any], params: dict[str, Any],
               post_ids: Sequence[str], L: np.ndarray) -> int:
    """Insert an LF run of ``task`` on data-set ``version`` and its votes (row ``i`` of ``L`` is
    post ``post_ids[i]``) in the caller's transaction; returns the run id."""
    run_id = insert_run(conn, task=task, task_hash=task_hash, version=version, lf_names=lf_names,
                        label_names=label_names, summary=summary, params=params)
    add_votes(conn, run_id, post_ids, L)
    return run_id


def insert_run(conn: Connection, *, task: str, task_hash: str, version: int, lf_names: Sequence[str],
               label_names: Sequence[str], summary: dict[str, Any], params: dict[str, Any]) -> int:
    """Insert the row of an LF run (its votes follow with :func:`add_votes`, in the same
    transaction); returns the run id."""
    return int(conn.execute(_INSERT_RUN, {
        "task": task, "task_hash": task_hash, "version": version, "lf_names": list(lf_names),
        "label_names": list(label_names), "summary": jsonout.dumps(summary),
        "params": jsonout.dumps(params)}).scalar_one())


def add_votes(conn: Connection, run_id: int, post_ids: Sequence[str], L: np.ndarray) -> int:
    """Add the votes of posts ``post_ids`` (row ``i`` of ``L``) to run ``run_id``; returns their number.

    The votes go by COPY: a run holds one row per post of the version, millions for a large one,
    which may come in several batches.
    """
    return sql.copy_rows(conn, "lf_votes", ("run_id", "post_id", "votes"),
                         ((run_id, post_id, "{" + ",".join(map(str, votes)) + "}")
                          for post_id, votes in zip(post_ids, L.tolist())))


def latest_run(conn: Connection, task: str, version: int | None = None) -> dict[str, Any] | None:
    """The newest LF run of ``task`` (on data-set ``version`` when given) as ``id, version,
    created_at, lf_names, label_names``, or None when there is none. Its summary is left out:
    the tagger asks for the run on every item it serves, and the summary (LF analysis, cluster
    reports) can be large; ``run_summary`` reads it.

    Newest is the run recorded last (the highest id). The loop and the tagger pass the version
    they work on: a run on another version voted on other posts, or with another task file.
    """
    row = conn.execute(sa.text(
        "SELECT id, version, created_at, lf_names, label_names FROM lf_runs"
        " WHERE task = :task AND (CAST(:version AS integer) IS NULL OR version = :version)"
        " ORDER BY id DESC LIMIT 1"), {"task": task, "version": version}).mappings().first()
    return dict(row) if row else None


def run_summary(conn: Connection, run_id: int) -> dict[str, Any]:
    """What ``bin/label.sh`` reported for LF run ``run_id`` (LF analysis, golden counts,
    label-model and majority-vote scores); empty when the run does not exist."""
    summary = conn.execute(sa.text("SELECT summary FROM lf_runs WHERE id = :id"), {"id": run_id}).scalar()
    return summary or {}


def run_votes(conn: Connection, run_id: int) -> RunVotes:
    """The stored votes of run ``run_id``; a ``GoldloopError`` when there is no such run."""
    head = conn.execute(sa.text("SELECT lf_names, label_names FROM lf_runs WHERE id = :id"), {"id": run_id}).first()
    if head is None:
        raise GoldloopError(f"no LF run with id {run_id}")
    rows = conn.execute(sa.text("SELECT post_id, votes FROM lf_votes WHERE run_id = :id ORDER BY post_id"),
                        {"id": run_id}).all()
    matrix = np.array([votes for _, votes in rows], dtype=np.int8).reshape(len(rows), len(head.lf_names))
    return RunVotes(list(head.lf_names), list(head.label_names), [post_id for post_id, _ in rows], matrix)
