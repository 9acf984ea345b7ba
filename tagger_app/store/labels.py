"""Appending to ``human_labels``: labels, skips, undos and conflict resolutions (never updates)."""
from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tagger_app.prepared import Prepared

MAX_DURATION_MS = 24 * 3600 * 1000

_INSERT = Prepared(
    "INSERT INTO human_labels (task, post_id, action, label, annotator, source, undoes, duration_ms, meta) "
    "SELECT CAST(:task AS text), p.id, CAST(:action AS text), CAST(:label AS text), CAST(:annotator AS text),"
    " CAST(:source AS text), CAST(:undoes AS bigint), CAST(:duration_ms AS integer), CAST(:meta AS jsonb) "
    "FROM raw_posts p WHERE p.id = :post_id "
    "RETURNING id, post_id, action, label, created_at"
)


def _clamp_duration(duration_ms: Any) -> int | None:
    try:
        return max(0, min(int(duration_ms), MAX_DURATION_MS))
    except (TypeError, ValueError):
        return None


def append(conn: Connection, *, task: str, post_id: str, action: str, annotator: str, source: str,
           label: str | None = None, undoes: int | None = None, duration_ms: Any = None,
           meta: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Append one history row; return it as a dict, or None when ``post_id`` is not a known post."""
    rows = _INSERT.mappings(conn, {
        "task": task, "post_id": post_id, "action": action, "label": label, "annotator": annotator,
        "source": source, "undoes": undoes, "duration_ms": _clamp_duration(duration_ms),
        "meta": json.dumps(meta or {}),
    })
    return rows[0] if rows else None


def _lock_annotator(conn: Connection, task: str, annotator: str) -> None:
    """Serialise one annotator's undos (two quick presses must undo two different rows)."""
    conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"undo:{task}:{annotator}"})


def undo_last(conn: Connection, task: str, annotator: str, post_id: str | None = None,
              meta: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Withdraw the annotator's latest label or skip (optionally on ``post_id``) that is still in force.

    Appends an ``undo`` row pointing at it and returns the withdrawn row, or None when there is
    nothing to undo.
    """
    _lock_annotator(conn, task, annotator)
    target = conn.execute(sa.text(
        "SELECT h.id, h.post_id, h.action, h.label FROM human_labels h "
        "WHERE h.task = :task AND h.annotator = :annotator AND h.action IN ('label', 'skip') "
        "  AND (CAST(:post_id AS text) IS NULL OR h.post_id = :post_id) "
        "  AND NOT EXISTS (SELECT 1 FROM human_labels u WHERE u.undoes = h.id) "
        "ORDER BY h.id DESC LIMIT 1"  # one annotator's rows: id order is the order they were given in
    ), {"task": task, "annotator": annotator, "post_id": post_id}).mappings().first()
    if target is None:
        return None
    undo = append(conn, task=task, post_id=target["post_id"], action="undo", annotator=annotator,
                  source="tagger", undoes=target["id"], meta=meta)
    return {**dict(target), "undo_id": undo["id"] if undo else None}
