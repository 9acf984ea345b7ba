"""Read-only views for the live dashboard: the production model's predictions over time, the
newest posts per label with their links, and the links and domains most posted per label.

Every query is bounded by a time window on ``predictions.created_at`` (when the prediction was
stored) or by a ``LIMIT`` per label, and reads through the indexes of sql/020 (``task, source,
created_at, label`` and ``task, source, label, created_at``), so a page costs the same with a
million classified posts as with a thousand, as long as the window holds a bounded share.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

SOURCE = "production"
BUCKETS = ("minute", "hour", "day")
#: What the links are grouped by: a fixed column name per key (never user text in SQL).
LINK_KEYS = {"url": "u.url", "domain": "u.domain"}


def _dicts(conn: Connection, statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(sa.text(statement), params).mappings()]


def per_bucket(conn: Connection, task: str, bucket: str, since: datetime) -> list[dict[str, Any]]:
    """Posts classified per ``bucket`` (minute, hour, day; UTC) and label since ``since``:
    rows ``at`` (the bucket's start), ``label``, ``n``, oldest first."""
    if bucket not in BUCKETS:
        raise ValueError(f"unknown bucket {bucket!r}; expected one of {BUCKETS}")
    return _dicts(conn, "SELECT date_trunc(:bucket, created_at, 'UTC') AS at, label, count(*) AS n FROM predictions"
                        " WHERE task = :task AND source = :source AND created_at >= :since"
                        " GROUP BY 1, 2 ORDER BY 1, 2",
                  {"task": task, "source": SOURCE, "bucket": bucket, "since": since})


def latest(conn: Connection, task: str, labels: Sequence[str], per_label: int) -> list[dict[str, Any]]:
    """The ``per_label`` newest production predictions of each of ``labels``: ``label``,
    ``post_id``, ``text``, ``confidence``, ``classified_at``, ``posted_at`` and ``links`` (the
    post's links, most posted first)."""
    return _dicts(conn, """
SELECT l.label, p.post_id, r.text, p.confidence, p.created_at AS classified_at, r.created_at AS posted_at,
       COALESCE((SELECT array_agg(pu.url ORDER BY u.n_posts DESC, pu.url) FROM post_urls pu
                 JOIN urls u ON u.url = pu.url WHERE pu.post_id = p.post_id), '{}') AS links
FROM unnest(CAST(:labels AS text[])) WITH ORDINALITY AS l(label, i)
CROSS JOIN LATERAL (
    SELECT post_id, confidence, created_at FROM predictions
    WHERE task = :task AND source = :source AND label = l.label ORDER BY created_at DESC, post_id DESC LIMIT :n
) p
JOIN raw_posts r ON r.id = p.post_id
ORDER BY l.i, p.created_at DESC, p.post_id DESC""",
                  {"task": task, "source": SOURCE, "labels": list(labels), "n": per_label})


def top_links(conn: Connection, task: str, key: str, since: datetime, per_label: int) -> list[dict[str, Any]]:
    """The ``per_label`` links (``key`` url) or domains (``key`` domain) carried by most posts
    classified since ``since``, per predicted label: rows ``label``, ``key``, ``n``, best first."""
    column = LINK_KEYS[key]
    return _dicts(conn, f"""
SELECT label, key, n FROM (
    SELECT p.label, {column} AS key, count(DISTINCT p.post_id) AS n,
           row_number() OVER (PARTITION BY p.label ORDER BY count(DISTINCT p.post_id) DESC, {column}) AS place
    FROM predictions p JOIN post_urls pu ON pu.post_id = p.post_id JOIN urls u ON u.url = pu.url
    WHERE p.task = :task AND p.source = :source AND p.created_at >= :since
    GROUP BY p.label, {column}
) ranked WHERE place <= :n ORDER BY label, n DESC, key""",
                  {"task": task, "source": SOURCE, "since": since, "n": per_label})


def newest(conn: Connection, task: str) -> datetime | None:
    """When the newest production prediction of ``task`` was stored (the page's change stamp)."""
    return conn.execute(sa.text("SELECT max(created_at) FROM predictions WHERE task = :task AND source = :source"),
                        {"task": task, "source": SOURCE}).scalar()
