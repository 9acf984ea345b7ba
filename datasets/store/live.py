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
LINK_KINDS = ("url", "domain")


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


def top_links(conn: Connection, task: str, since: datetime, per_label: int) -> dict[str, list[dict[str, Any]]]:
    """The ``per_label`` links (``url``) and domains (``domain``) carried by most posts
    classified since ``since``, per predicted label: rows ``label``, ``key``, ``n``, best first.

    One pass over the window's (post, link) pairs: counts per (label, link), then per (label,
    domain) from those; a post carries a link once (``post_urls``' key), so a link's count is
    its posts, and a domain's the posts linking to it (a post with two links to one domain
    counts twice, which is rare and spares a second pass).
    """
    rows = _dicts(conn, """
WITH per_url AS (
    SELECT p.label, pu.url, count(*) AS n
    FROM predictions p JOIN post_urls pu ON pu.post_id = p.post_id
    WHERE p.task = :task AND p.source = :source AND p.created_at >= :since
    GROUP BY p.label, pu.url
), per_domain AS (
    SELECT per_url.label, u.domain AS key, sum(per_url.n) AS n FROM per_url JOIN urls u ON u.url = per_url.url
    GROUP BY per_url.label, u.domain
), ranked AS (
    SELECT 'url' AS kind, label, url AS key, n, row_number() OVER (PARTITION BY label ORDER BY n DESC, url) AS place
    FROM per_url
    UNION ALL
    SELECT 'domain', label, key, n, row_number() OVER (PARTITION BY label ORDER BY n DESC, key) FROM per_domain
)
SELECT kind, label, key, CAST(n AS bigint) AS n FROM ranked WHERE place <= :n ORDER BY kind, label, n DESC, key""",
                  {"task": task, "source": SOURCE, "since": since, "n": per_label})
    out: dict[str, list[dict[str, Any]]] = {kind: [] for kind in LINK_KINDS}
    for row in rows:
        out[row.pop("kind")].append(row)
    return out


def newest(conn: Connection, task: str) -> datetime | None:
    """When the newest production prediction of ``task`` was stored (the page's change stamp)."""
    return conn.execute(sa.text("SELECT max(created_at) FROM predictions WHERE task = :task AND source = :source"),
                        {"task": task, "source": SOURCE}).scalar()
