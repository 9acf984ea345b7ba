"""The ``predictions`` table: the label model's and the end model's class probabilities per post.

Both sources are written the same way (:func:`write`): the rows go by COPY into a staging table,
then one statement upserts them and one removes the source's predictions on the version's other
posts (those the upsert did not stamp with this write's ``run_ref``). A post keeps one prediction per source (the newest), which is what the tagger's
prediction review and the evaluation read; the table never holds a stale prediction beside a
fresh one, and a post the new run does not predict (the label model's uncovered posts) loses
the old prediction instead of showing it as current.

The production model's predictions (source ``production``: ``bin/stream.sh`` on live posts,
``bin/classify.sh`` on stored ones) are written by :func:`upsert` alone: they cover whatever
posts were classified, not one version's, so nothing else is removed.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets.store import sql

SOURCES = ("end_model", "label_model", "production")  # production: bin/stream.sh, bin/classify.sh
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
    written = upsert(conn, task=task, source=source, version=version, run_ref=run_ref, labels=labels, ids=ids,
                     probs=probs)
    remove_stale(conn, task=task, source=source, version=version, run_ref=run_ref)
    return written


def remove_stale(conn: Connection, *, task: str, source: str, version: int, run_ref: str) -> None:
    """Delete the ``source`` predictions of ``task`` on the posts of ``version`` that no write of
    ``run_ref`` stamped: the end of a :func:`write` made of several :func:`upsert` batches."""
    conn.execute(sa.text(
        "DELETE FROM predictions WHERE task = :task AND source = :source AND run_ref IS DISTINCT FROM :run_ref"
        " AND post_id IN (SELECT post_id FROM split_members WHERE version = :version)"),
        {"task": task, "source": source, "version": version, "run_ref": run_ref})


def upsert(conn: Connection, *, task: str, source: str, version: int | None, run_ref: str, labels: Sequence[str],
           ids: Sequence[str], probs: np.ndarray) -> int:
    """Store ``probs`` as the ``source`` predictions of ``task`` for the posts ``ids``, replacing
    theirs and leaving every other post's alone (the production model's predictions of live
    posts, whose ``version`` is None); returns the number of rows written.

    ``created_at`` is the time of the write itself (``clock_timestamp()``), not of the
    transaction's start, so it says when a prediction was stored.
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
    conn.execute(sa.text(
        "INSERT INTO predictions (task, source, post_id, version, label, confidence, probs, run_ref, created_at)"
        f" SELECT :task, :source, post_id, :version, label, confidence, probs, :run_ref, clock_timestamp()"
        f" FROM {_STAGE}"
        " ON CONFLICT (task, source, post_id) DO UPDATE SET version = EXCLUDED.version, label = EXCLUDED.label,"
        " confidence = EXCLUDED.confidence, probs = EXCLUDED.probs, run_ref = EXCLUDED.run_ref,"
        " created_at = EXCLUDED.created_at"), {"task": task, "source": source, "version": version, "run_ref": run_ref})
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



# The posts of a batch classification not yet predicted by its run (see unpredicted_posts).
_UNPREDICTED = """
FROM raw_posts p
WHERE (CAST(:version AS integer) IS NULL OR EXISTS (
        SELECT 1 FROM split_members sm WHERE sm.version = :version AND sm.post_id = p.id
          AND (CAST(:split AS text) IS NULL OR sm.split = :split)))
  AND (CAST(:since AS timestamptz) IS NULL OR COALESCE(p.created_at, p.ingested_at) >= :since)
  AND (CAST(:upto AS text) IS NULL OR p.id <= :upto)
  AND NOT EXISTS (SELECT 1 FROM predictions pr WHERE pr.task = :task AND pr.source = :source
                  AND pr.post_id = p.id AND pr.run_ref = :run_ref)"""


def unpredicted_posts(conn: Connection, *, task: str, source: str, run_ref: str, version: int | None,
                      split: str | None, since: Any, after: str, limit: int, upto: str | None = None) -> list[Any]:
    """Up to ``limit`` posts, in id order after ``after`` (and up to ``upto``, when given), that
    have no ``source`` prediction of ``task`` by ``run_ref`` yet: the posts of data-set
    ``version`` (its ``split`` only, when given), or those posted (else stored) since ``since``.
    Rows: ``id``, ``text``, ``created_at``, ``urls``, ``media_urls``. What a resumed batch
    classification still has to do; ``upto`` bounds one Spark task's id range."""
    return conn.execute(sa.text(f"SELECT p.id, p.text, p.created_at, p.urls, p.media_urls {_UNPREDICTED}"
                                " AND p.id > :after ORDER BY p.id LIMIT :limit"),
                        {"task": task, "source": source, "run_ref": run_ref, "version": version, "split": split,
                         "since": since, "upto": upto, "after": after, "limit": limit}).all()


def count_unpredicted(conn: Connection, *, task: str, source: str, run_ref: str, version: int | None,
                      split: str | None, since: Any) -> int:
    """How many posts :func:`unpredicted_posts` would return in all (a progress bar's total)."""
    return int(conn.execute(sa.text(f"SELECT count(*) {_UNPREDICTED}"),
                            {"task": task, "source": source, "run_ref": run_ref, "version": version, "split": split,
                             "since": since, "upto": None}).scalar_one())


def unpredicted_bounds(conn: Connection, *, task: str, source: str, run_ref: str, version: int | None,
                       split: str | None, since: Any, parts: int) -> list[str]:
    """Ids cutting the posts :func:`unpredicted_posts` would return into about ``parts`` id
    ranges of equal size (ascending, distinct; fewer when posts are few): Spark tasks' shares."""
    if parts < 2:
        return []
    fractions = [k / parts for k in range(1, parts)]
    cuts = conn.execute(sa.text(f"SELECT percentile_disc(CAST(:fractions AS float8[])) WITHIN GROUP (ORDER BY p.id)"
                                f" {_UNPREDICTED}"),
                        {"task": task, "source": source, "run_ref": run_ref, "version": version, "split": split,
                         "since": since, "upto": None, "fractions": fractions}).scalar_one()
    return list(dict.fromkeys(cut for cut in cuts or [] if cut is not None))  # in the database's id order


def predicted_ids(conn: Connection, *, task: str, source: str, run_ref: str, ids: Sequence[str]) -> set[str]:
    """Those of ``ids`` that already have a ``source`` prediction of ``task`` by ``run_ref``."""
    return set(conn.execute(sa.text("SELECT post_id FROM predictions WHERE task = :task AND source = :source"
                                    " AND run_ref = :run_ref AND post_id = ANY(:ids)"),
                            {"task": task, "source": source, "run_ref": run_ref, "ids": list(ids)}).scalars())
