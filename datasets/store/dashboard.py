"""Read-only views for the tagger's project dashboard: the run history, golden-label progress per
split and per annotator, and how a source's stored predictions agree with the golden labels of a
split (the LF analysis is ``votes.latest_run``'s ``summary``).

The dashboard only reads what the steps recorded (``lf_runs.summary``, ``runs.metrics``) or what
the tables already hold; nothing here recomputes a model: a page costs a handful of grouped
queries over the version's ``split_members`` and the task's labels.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class GoldenPair(NamedTuple):
    """A golden label of a split and what a source predicted for the same post (None: no prediction)."""

    golden: str
    predicted: str | None


def _dicts(conn: Connection, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sa.text(statement), params).mappings()]


def run_history(conn: Connection, task: str, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` runs of ``task`` of every kind, newest first (all columns)."""
    return _dicts(conn, "SELECT * FROM runs WHERE task = :task ORDER BY id DESC LIMIT :limit",
                  {"task": task, "limit": limit})


class GoldenProgress(NamedTuple):
    """``splits``: per split of a version its ``posts``, those with a ``golden`` label, those in
    ``conflicts``; ``annotators``: per ``annotator`` and ``split`` the ``labels`` in force."""

    splits: list[dict[str, Any]]
    annotators: list[dict[str, Any]]


def golden_progress(conn: Connection, task: str, version: int) -> GoldenProgress:
    """How far golden labeling of ``version`` has come, per split and per annotator (labels an
    annotator undid do not count)."""
    bind = {"task": task, "version": version}
    return GoldenProgress(
        _dicts(conn, "SELECT sm.split, count(*) AS posts, count(g.label) AS golden,"
                     "       count(*) FILTER (WHERE g.conflict) AS conflicts"
                     " FROM split_members sm LEFT JOIN golden_labels g ON g.task = :task AND g.post_id = sm.post_id"
                     " WHERE sm.version = :version GROUP BY sm.split", bind),
        _dicts(conn, "SELECT al.annotator, sm.split, count(*) AS labels FROM annotator_labels al"
                     " JOIN split_members sm ON sm.post_id = al.post_id AND sm.version = :version"
                     " WHERE al.task = :task AND al.action = 'label' GROUP BY al.annotator, sm.split"
                     " ORDER BY al.annotator", bind))


def golden_pairs(conn: Connection, task: str, source: str, version: int, split: str) -> list[GoldenPair]:
    """Every golden label of ``split`` on ``version`` beside the ``source`` prediction made on
    that version for the same post (None where there is none)."""
    rows = conn.execute(sa.text(
        "SELECT g.label, p.label FROM golden_labels g"
        " JOIN split_members sm ON sm.post_id = g.post_id AND sm.version = :version AND sm.split = :split"
        " LEFT JOIN predictions p ON p.task = :task AND p.source = :source AND p.post_id = g.post_id"
        "      AND p.version = :version"
        " WHERE g.task = :task AND g.label IS NOT NULL ORDER BY g.post_id"),
        {"task": task, "source": source, "version": version, "split": split}).all()
    return [GoldenPair(golden, predicted) for golden, predicted in rows]
