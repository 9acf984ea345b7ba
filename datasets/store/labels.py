"""Appending to ``human_labels``: labels, skips, undos and conflict resolutions (never updates)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets.store import sql

_INSERT = sa.text(
    "INSERT INTO human_labels (task, post_id, action, label, annotator, source, undoes, duration_ms, meta) "
    "SELECT CAST(:task AS text), p.id, CAST(:action AS text), CAST(:label AS text), CAST(:annotator AS text),"
    " CAST(:source AS text), CAST(:undoes AS bigint), CAST(:duration_ms AS integer), CAST(:meta AS jsonb) "
    "FROM raw_posts p WHERE p.id = :post_id "
    "RETURNING id, post_id, action, label, created_at"
)


def append(conn: Connection, *, task: str, post_id: str, action: str, annotator: str, source: str,
           label: str | None = None, undoes: int | None = None, duration_ms: int | None = None,
           meta: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Append one history row; return it as a dict, or None when ``post_id`` is not a known post."""
    row = conn.execute(_INSERT, {
        "task": task, "post_id": post_id, "action": action, "label": label, "annotator": annotator,
        "source": source, "undoes": undoes, "duration_ms": duration_ms,
        "meta": json.dumps(meta or {}),
    }).mappings().first()
    return dict(row) if row else None


def append_labels(conn: Connection, *, task: str, annotator: str, source: str,
                  labels: Iterable[tuple[str, str, dict[str, Any]]]) -> int:
    """Append one ``label`` row per ``(post_id, label, meta)`` of ``labels`` by COPY; returns
    their number.

    For a whole file of labels (``bin/import_labels.sh``): the caller has checked that every
    post exists, which ``append`` does row by row.
    """
    return sql.copy_rows(conn, "human_labels", ("task", "post_id", "action", "label", "annotator", "source", "meta"),
                         ((task, post_id, "label", label, annotator, source, meta) for post_id, label, meta in labels))


def labels_in_force(conn: Connection, task: str, annotator: str, post_ids: Sequence[str]) -> dict[str, str]:
    """The labels ``annotator`` has in force on those of ``post_ids`` they labeled, by post id."""
    return dict(conn.execute(sa.text(
        "SELECT post_id, label FROM annotator_labels WHERE task = :task AND annotator = :annotator"
        " AND action = 'label' AND post_id = ANY(:ids)"),
        {"task": task, "annotator": annotator, "ids": list(post_ids)}).all())


def labelers(conn: Connection, task: str, post_id: str) -> list[str]:
    """The annotators whose label on the item is in force."""
    return list(conn.execute(sa.text(
        "SELECT annotator FROM annotator_labels WHERE task = :task AND post_id = :post_id AND action = 'label'"
    ), {"task": task, "post_id": post_id}).scalars())


def _lock(conn: Connection, key: str) -> None:
    """Serialise undos of one thing until the transaction ends (two quick presses must undo two
    different rows; two admins must not undo one resolution twice)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})


_IN_FORCE = "NOT EXISTS (SELECT 1 FROM human_labels u WHERE u.undoes = h.id)"


def undo_last(conn: Connection, task: str, annotator: str, post_id: str | None = None) -> dict[str, Any] | None:
    """Withdraw the annotator's latest label or skip (optionally on ``post_id``) that is still in force.

    Appends an ``undo`` row pointing at it and returns the withdrawn row, or None when there is
    nothing to undo.
    """
    _lock(conn, f"undo:{task}:{annotator}")
    target = conn.execute(sa.text(
        "SELECT h.id, h.post_id, h.action, h.label FROM human_labels h "
        "WHERE h.task = :task AND h.annotator = :annotator AND h.action IN ('label', 'skip') "
        f"  AND (CAST(:post_id AS text) IS NULL OR h.post_id = :post_id) AND {_IN_FORCE} "
        "ORDER BY h.id DESC LIMIT 1"  # one annotator's rows: id order is the order they were given in
    ), {"task": task, "annotator": annotator, "post_id": post_id}).mappings().first()
    return _withdraw(conn, task, annotator, dict(target)) if target else None


def undo_resolution(conn: Connection, task: str, admin: str, resolution_id: int) -> dict[str, Any] | None:
    """Withdraw a conflict resolution or golden-label override (any admin's) that is still in
    force; returns the withdrawn row, or None when there is no such resolution."""
    _lock(conn, f"undo:{task}:resolution:{resolution_id}")
    target = conn.execute(sa.text(
        "SELECT h.id, h.post_id, h.action, h.label FROM human_labels h "
        f"WHERE h.id = :id AND h.task = :task AND h.action = 'resolve' AND {_IN_FORCE}"
    ), {"task": task, "id": resolution_id}).mappings().first()
    return _withdraw(conn, task, admin, dict(target), {"view": "conflicts"}) if target else None


def _withdraw(conn: Connection, task: str, annotator: str, target: dict[str, Any],
              meta: dict[str, Any] | None = None) -> dict[str, Any]:
    undo = append(conn, task=task, post_id=target["post_id"], action="undo", annotator=annotator,
                  source="resolve" if target["action"] == "resolve" else "tagger", undoes=target["id"], meta=meta)
    return {**target, "undo_id": undo["id"] if undo else None}


def label_rows(conn: Connection, task: str) -> set[tuple[str, str, str]]:
    """Every label ever appended for ``task`` as (annotator, post_id, label), undone or not: what
    a client that was acknowledged can check its labels against."""
    rows = conn.execute(sa.text(
        "SELECT annotator, post_id, label FROM human_labels WHERE task = :task AND action = 'label'"
    ), {"task": task})
    return {tuple(row) for row in rows}
