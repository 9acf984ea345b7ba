"""``spark_stream_files``: the dropped files each micro-batch of ``bin/stream.sh --engine spark``
committed (sql/021 explains why a replayed micro-batch needs them).

A file's row is written by :func:`commit` in the transaction that stores its posts and their
predictions, so the row exists exactly when its results do; :func:`committed` is the question
a replayed micro-batch asks before it touches a file.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class FileKey(NamedTuple):
    """One file of one micro-batch of one streaming query (its checkpoint) of a task."""

    task: str
    checkpoint: str
    batch_id: int
    file: str


def committed(conn: Connection, key: FileKey) -> bool:
    """Whether ``key``'s file was already committed (the micro-batch is being replayed)."""
    return bool(conn.execute(sa.text(
        "SELECT 1 FROM spark_stream_files WHERE task = :task AND checkpoint = :checkpoint"
        " AND batch_id = :batch_id AND file = :file"), key._asdict()).scalar())


def commit(conn: Connection, key: FileKey, *, run_id: int, ingest_batch: int, inserted: int, rejected: int) -> None:
    """Record ``key``'s file as done in the caller's transaction (a concurrent second commit of
    the same file fails on the primary key, rolling its duplicate work back)."""
    conn.execute(sa.text(
        "INSERT INTO spark_stream_files (task, checkpoint, batch_id, file, run_id, ingest_batch, inserted, rejected)"
        " VALUES (:task, :checkpoint, :batch_id, :file, :run_id, :ingest_batch, :inserted, :rejected)"),
        {**key._asdict(), "run_id": run_id, "ingest_batch": ingest_batch, "inserted": inserted, "rejected": rejected})


def inserted_posts(conn: Connection, ingest_batch: int) -> list[Any]:
    """The posts ingest batch ``ingest_batch`` inserted (``id``, ``text``, ``created_at``,
    ``urls``, ``media_urls``: what classification and the URL store read), in id order."""
    return conn.execute(sa.text("SELECT id, text, created_at, urls, media_urls FROM raw_posts"
                                " WHERE batch_id = :batch ORDER BY id"), {"batch": ingest_batch}).all()
