"""Posts as the tagger shows them, with optional hints (LF votes, model predictions)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

_POSTS = sa.text(
    "SELECT p.id AS post_id, p.text, p.author, p.created_at, p.lang, p.hashtags, p.mentions, p.urls,"
    " p.media_urls, p.is_retweet, sm.split,"
    " (SELECT al.label FROM annotator_labels al"
    "   WHERE al.task = :task AND al.post_id = p.id AND al.annotator = :annotator) AS my_label,"
    " (SELECT g.label FROM golden_labels g WHERE g.task = :task AND g.post_id = p.id) AS golden_label"
    " FROM raw_posts p LEFT JOIN split_members sm ON sm.version = :version AND sm.post_id = p.id"
    " WHERE p.id = ANY(:ids)"
)


def latest_lf_run(conn: Connection, task: str) -> dict[str, Any] | None:
    """The task's most recent labeling-function run (id, created_at, lf_names, label_names), or None."""
    row = conn.execute(sa.text(
        "SELECT id, version, created_at, lf_names, label_names FROM lf_runs WHERE task = :task "
        "ORDER BY created_at DESC, id DESC LIMIT 1"
    ), {"task": task}).mappings().first()
    return dict(row) if row else None


def _lf_hints(conn: Connection, run: dict[str, Any], ids: list[str]) -> dict[str, list[dict[str, str]]]:
    rows = conn.execute(sa.text("SELECT post_id, votes FROM lf_votes WHERE run_id = :run AND post_id = ANY(:ids)"),
                        {"run": run["id"], "ids": ids})
    names, labels = run["lf_names"], run["label_names"]
    return {post_id: [{"lf": names[i], "label": labels[v]} for i, v in enumerate(votes)
                      if 0 <= v < len(labels) and i < len(names)]
            for post_id, votes in rows}


def _predictions(conn: Connection, task: str, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    rows = conn.execute(sa.text(
        "SELECT post_id, source, label, confidence FROM predictions WHERE task = :task AND post_id = ANY(:ids) "
        "ORDER BY source"
    ), {"task": task, "ids": ids}).mappings()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["post_id"], []).append(
            {"source": row["source"], "label": row["label"], "confidence": round(float(row["confidence"]), 4)})
    return out


def add_hints(conn: Connection, task: str, items: list[dict[str, Any]]) -> None:
    """Attach ``hints`` (the latest LF run's votes, stored predictions) to each item."""
    if not items:
        return
    ids = [item["post_id"] for item in items]
    run = latest_lf_run(conn, task)
    votes = _lf_hints(conn, run, ids) if run else {}
    preds = _predictions(conn, task, ids)
    for item in items:
        item["hints"] = {"lf_votes": votes.get(item["post_id"], []), "predictions": preds.get(item["post_id"], [])}


def load(conn: Connection, task: str, version: int | None, annotator: str, ids: list[str],
         hints: bool) -> list[dict[str, Any]]:
    """The posts ``ids`` in that order as JSON-ready items, with the annotator's current label and
    the golden label; with ``hints``, LF votes and predictions."""
    by_id = {}
    for row in conn.execute(_POSTS, {"task": task, "version": version, "annotator": annotator, "ids": ids}).mappings():
        by_id[row["post_id"]] = {**row, "created_at": row["created_at"].isoformat() if row["created_at"] else None}
    out = [by_id[i] for i in ids if i in by_id]
    if hints:
        add_hints(conn, task, out)
    return out


def exists(conn: Connection, post_id: str) -> bool:
    """Whether ``post_id`` is a stored post."""
    return bool(conn.execute(sa.text("SELECT 1 FROM raw_posts WHERE id = :id"), {"id": post_id}).scalar())


def in_split(conn: Connection, version: int | None, split: str | None, post_id: str) -> bool:
    """Whether ``post_id`` belongs to ``split`` of data-set ``version``."""
    return bool(conn.execute(sa.text(
        "SELECT 1 FROM split_members WHERE version = :version AND split = :split AND post_id = :post_id"
    ), {"version": version, "split": split, "post_id": post_id}).scalar())


def prediction(conn: Connection, task: str, source: str, post_id: str) -> dict[str, Any] | None:
    """One stored prediction (label, confidence) of ``source`` for a post, or None."""
    row = conn.execute(sa.text(
        "SELECT source, label, confidence FROM predictions WHERE task = :task AND source = :source AND post_id = :p"
    ), {"task": task, "source": source, "p": post_id}).mappings().first()
    return {**dict(row), "confidence": round(float(row["confidence"]), 4)} if row else None
