"""The URL store: ``urls`` (one row per normalised link, with its post count and first and last
sighting) and ``post_urls`` (which post carries which link).

:func:`add_post_links` is the one writer, called by ingestion for the posts it inserted and by
the stream for the posts it classifies, each in its own transaction. It is idempotent: a
``(post, link)`` pair already in ``post_urls`` adds nothing, and ``urls`` is updated from the
pairs that were new in the same statement, so a link's ``n_posts`` is counted once per post
however often a post goes through. Counts per predicted label are read by joining ``post_urls``
with ``predictions`` (:func:`report`).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets import urls as links
from datasets.store import sql

_STAGE = sa.text("""
CREATE TEMP TABLE IF NOT EXISTS link_stage (
    post_id text, url text, domain text, is_media boolean, seen timestamptz
) ON COMMIT DELETE ROWS""")
# New (post, link) pairs first; the links' rows are then created or updated from those pairs only.
# Rows are upserted in url order, so two writers lock shared links in the same order.
_UPSERT = sa.text("""
WITH fresh AS (
    INSERT INTO post_urls (post_id, url) SELECT post_id, url FROM link_stage
    ON CONFLICT (post_id, url) DO NOTHING RETURNING post_id, url
)
INSERT INTO urls (url, domain, is_media, first_seen, last_seen, n_posts)
SELECT s.url, min(s.domain), bool_or(s.is_media), min(s.seen), max(s.seen), count(*)
FROM fresh f JOIN link_stage s ON s.post_id = f.post_id AND s.url = f.url
GROUP BY s.url ORDER BY s.url
ON CONFLICT (url) DO UPDATE SET n_posts = urls.n_posts + EXCLUDED.n_posts,
    first_seen = LEAST(urls.first_seen, EXCLUDED.first_seen),
    last_seen = GREATEST(urls.last_seen, EXCLUDED.last_seen)""")


def add_post_links(conn: Connection, posts: Iterable[tuple[str, datetime | None, Sequence[str] | None,
                                                           Sequence[str] | None]]) -> int:
    """Record the links of ``posts`` (``(post_id, created_at, urls, media_urls)``; a post with no
    time is seen now) in the caller's transaction; returns the number of (post, link) pairs sent.

    Must not be given the same post twice in one call (a post's pairs are distinct already).
    """
    conn.execute(_STAGE)
    now = None
    rows = []
    for post_id, created_at, post_urls, media_urls in posts:
        for link, is_media in links.post_links(post_urls, media_urls):
            if created_at is None:
                now = now or conn.execute(sa.text("SELECT now()")).scalar_one()
            rows.append((post_id, link.url, link.domain, is_media, created_at or now))
    if not rows:
        return 0
    sent = sql.copy_rows(conn, "link_stage", ("post_id", "url", "domain", "is_media", "seen"), rows)
    conn.execute(_UPSERT)
    conn.execute(sa.text("TRUNCATE link_stage"))  # a second call in the same transaction stages afresh
    return sent


def add_stored_posts(conn: Connection, ids: Sequence[str]) -> int:
    """Record the links of the stored posts ``ids`` (see :func:`add_post_links`)."""
    rows = conn.execute(sa.text("SELECT id, created_at, urls, media_urls FROM raw_posts WHERE id = ANY(:ids)"),
                        {"ids": list(ids)}).all()
    return add_post_links(conn, rows)


def report(conn: Connection, *, task: str | None, source: str, label: str | None, domain: str | None,
           since: datetime | None, media: bool | None, top: int | None) -> list[dict[str, Any]]:
    """The links, most posted first, with their counts per predicted label of ``task`` (by the
    ``source`` predictions; none without a task).

    ``label`` keeps the links with at least one post predicted so and ranks them by that count;
    ``domain`` keeps that domain and its subdomains; ``since`` the links seen since then (by
    ``last_seen``); ``media`` only media (True) or only links (False); ``top`` the first N.
    """
    bind: dict[str, Any] = {"task": task, "source": source, "label": label, "since": since, "media": media,
                            "top": top, "domain": domain, "subdomains": f"%.{domain}" if domain else None}
    rows = conn.execute(sa.text("""
WITH picked AS (
    SELECT u.* FROM urls u
    WHERE (CAST(:domain AS text) IS NULL OR u.domain = :domain OR u.domain LIKE :subdomains)
      AND (CAST(:since AS timestamptz) IS NULL OR u.last_seen >= :since)
      AND (CAST(:media AS boolean) IS NULL OR u.is_media = :media)
), labelled AS (
    SELECT pu.url, p.label, count(*) AS n
    FROM picked JOIN post_urls pu ON pu.url = picked.url
    JOIN predictions p ON p.task = :task AND p.source = :source AND p.post_id = pu.post_id
    GROUP BY pu.url, p.label
), per_url AS (
    SELECT url, jsonb_object_agg(label, n) AS labels, CAST(sum(n) AS bigint) AS n_predicted,
           COALESCE(sum(n) FILTER (WHERE label = :label), 0) AS n_label
    FROM labelled GROUP BY url
)
SELECT picked.url, picked.domain, picked.is_media, picked.first_seen, picked.last_seen, picked.n_posts,
       COALESCE(per_url.labels, '{}'::jsonb) AS labels, COALESCE(per_url.n_predicted, 0) AS n_predicted
FROM picked LEFT JOIN per_url ON per_url.url = picked.url
WHERE CAST(:label AS text) IS NULL OR per_url.n_label > 0
ORDER BY CASE WHEN CAST(:label AS text) IS NULL THEN picked.n_posts ELSE per_url.n_label END DESC, picked.url
LIMIT :top"""), bind).mappings()
    return [dict(row) for row in rows]


def count_links(conn: Connection, post_ids: Sequence[str] | None = None) -> int:
    """How many (post, link) pairs are stored, for ``post_ids`` or for every post."""
    if post_ids is None:
        return int(conn.execute(sa.text("SELECT count(*) FROM post_urls")).scalar_one())
    return int(conn.execute(sa.text("SELECT count(*) FROM post_urls WHERE post_id = ANY(:ids)"),
                            {"ids": list(post_ids)}).scalar_one())
