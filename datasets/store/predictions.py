"""The ``predictions`` table: the label model's and the end model's class probabilities per post.

Both sources are written the same way (:func:`write`): the rows go by COPY into a staging table,
then one statement upserts them and one removes the source's predictions on the version's other
posts (those the upsert did not stamp with this write's ``run_ref``). A post keeps one prediction per source (the newest), which is what the tagger's
prediction review and the evaluation read; the table never holds a stale prediction beside a
fresh one, and a post the new run does not predict (the label model's uncovered posts) loses
the old prediction instead of showing it as current.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets.store import sql

SOURCES = ("end_model", "label_model")
DECIMALS = 6  # finer differences between probabilities mean nothing to a review or a ranking

_STAGE = "prediction_stage"
_STAGE_COLUMNS = ("post_id", "label", "confidence", "probs")


def write(conn: Connection, *, task: str, source: str, version: int, run_ref: str, labels: Sequence[str],
          ids: Sequence[str], probs: np.ndarray) -> int:
    """Make ``probs`` (one row per post of ``ids``, one column per label of ``labels``) the
    ``source`` predictions of ``task`` on the posts of data-set ``version``, in the caller's
    transaction; returns the number of rows written.

    Each row's label is its most probable class and its confidence that class's probability.
    ``run_ref`` names what produced them (the LF run or the train run id); it must differ from
    the previous write's, since that is how the rows of this write are told from stale ones.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown prediction source {source!r}; expected one of {SOURCES}")
    rounded = np.round(np.asarray(probs, dtype="float64"), DECIMALS)
    best = rounded.argmax(axis=1) if len(rounded) else np.zeros(0, dtype=int)
    rows = ((post_id, labels[b], row[b], dict(zip(labels, row)))
            for post_id, b, row in zip(ids, best.tolist(), rounded.tolist()))
    conn.execute(sa.text(f"CREATE TEMP TABLE {_STAGE} (post_id text, label text, confidence real, probs jsonb)"
                         " ON COMMIT DROP"))
    written = sql.copy_rows(conn, _STAGE, _STAGE_COLUMNS, rows)
    bind = {"task": task, "source": source, "version": version, "run_ref": run_ref}
    conn.execute(sa.text(
        "INSERT INTO predictions (task, source, post_id, version, label, confidence, probs, run_ref, created_at)"
        f" SELECT :task, :source, post_id, :version, label, confidence, probs, :run_ref, now() FROM {_STAGE}"
        " ON CONFLICT (task, source, post_id) DO UPDATE SET version = EXCLUDED.version, label = EXCLUDED.label,"
        " confidence = EXCLUDED.confidence, probs = EXCLUDED.probs, run_ref = EXCLUDED.run_ref,"
        " created_at = EXCLUDED.created_at"), bind)
    conn.execute(sa.text(
        "DELETE FROM predictions WHERE task = :task AND source = :source AND run_ref IS DISTINCT FROM :run_ref"
        " AND post_id IN (SELECT post_id FROM split_members WHERE version = :version)"), bind)
    conn.execute(sa.text(f"DROP TABLE {_STAGE}"))  # a second write in the same transaction stages afresh
    return written


def of_posts(conn: Connection, task: str, source: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The ``source`` predictions of those of ``ids`` that have one, by post id: ``label``,
    ``confidence`` and ``probs`` (label -> probability)."""
    rows = conn.execute(sa.text("SELECT post_id, label, confidence, probs FROM predictions"
                                " WHERE task = :task AND source = :source AND post_id = ANY(:ids)"),
                        {"task": task, "source": source, "ids": list(ids)}).mappings()
    return {row["post_id"]: {"label": row["label"], "confidence": row["confidence"], "probs": row["probs"]}
            for row in rows}


def of_posts_all_sources(conn: Connection, task: str, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every source's prediction (source, label, confidence) of each post of ``ids``: the tagger's hints."""
    rows = conn.execute(sa.text(
        "SELECT post_id, source, label, confidence FROM predictions WHERE task = :task AND post_id = ANY(:ids) "
        "ORDER BY source"
    ), {"task": task, "ids": ids}).mappings()
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row["post_id"], []).append(
            {"source": row["source"], "label": row["label"], "confidence": round(float(row["confidence"]), 4)})
    return out


def prediction(conn: Connection, task: str, source: str, post_id: str) -> dict[str, Any] | None:
    """One stored prediction (label, confidence) of ``source`` for a post, or None."""
    row = conn.execute(sa.text(
        "SELECT source, label, confidence FROM predictions WHERE task = :task AND source = :source AND post_id = :p"
    ), {"task": task, "source": source, "p": post_id}).mappings().first()
    return {**dict(row), "confidence": round(float(row["confidence"]), 4)} if row else None


def default_source(conn: Connection, task: str) -> str:
    """``end_model`` when the task has end-model predictions, else ``label_model``."""
    has_end = conn.execute(sa.text("SELECT 1 FROM predictions WHERE task = :t AND source = 'end_model' LIMIT 1"),
                           {"t": task}).scalar()
    return "end_model" if has_end else "label_model"
