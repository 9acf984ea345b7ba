"""The stream's inbox: ``streams`` (the tasks whose new posts are classified as they arrive) and
``stream_inbox`` (the posts waiting, filled by a trigger on ``raw_posts``; sql/019 explains why
an inbox rather than a scan of new ids).

:func:`take` removes a batch from the inbox inside the caller's transaction, which also stores
the batch's predictions: the inbox is the checkpoint, committed or rolled back with the results,
so a worker killed at any moment leaves its batch in the inbox for the next one, and a batch
whose results committed is gone from it.
"""
from __future__ import annotations

import select
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

CHANNEL = "goldloop_stream"  # what the trigger notifies (sql/019)


def register(conn: Connection, task: str) -> bool:
    """Queue every post inserted from now on for ``task``; returns whether it was not registered yet."""
    return bool(conn.execute(sa.text("INSERT INTO streams (task) VALUES (:task) ON CONFLICT DO NOTHING"),
                             {"task": task}).rowcount)


def unregister(conn: Connection, task: str) -> int:
    """Stop queueing posts for ``task`` and drop its waiting posts; returns how many were waiting."""
    waiting = pending(conn, task)
    conn.execute(sa.text("DELETE FROM streams WHERE task = :task"), {"task": task})
    return waiting


def registered(conn: Connection, task: str) -> bool:
    """Whether ``task`` has a stream."""
    return bool(conn.execute(sa.text("SELECT 1 FROM streams WHERE task = :task"), {"task": task}).scalar())


def pending(conn: Connection, task: str) -> int:
    """How many posts wait in ``task``'s inbox."""
    return int(conn.execute(sa.text("SELECT count(*) FROM stream_inbox WHERE task = :task"),
                            {"task": task}).scalar_one())


def take(conn: Connection, task: str, limit: int) -> list[Any]:
    """Remove up to ``limit`` of ``task``'s oldest waiting posts from the inbox, in the caller's
    transaction, and return them (``id``, ``text``, ``created_at``, ``urls``, ``media_urls``).

    Rows another worker holds are skipped (``SKIP LOCKED``), so workers can share a task.
    """
    return conn.execute(sa.text("""
WITH taken AS (
    DELETE FROM stream_inbox WHERE seq IN (
        SELECT seq FROM stream_inbox WHERE task = :task ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING post_id
)
SELECT p.id, p.text, p.created_at, p.urls, p.media_urls FROM raw_posts p JOIN taken ON taken.post_id = p.id"""),
                        {"task": task, "limit": limit}).all()


class Listener:
    """A connection of its own listening on :data:`CHANNEL`: :meth:`wait` returns as soon as an
    inserting transaction commits (or after ``timeout`` seconds, the polling fallback)."""

    def __init__(self, engine: sa.engine.Engine):
        self._raw = engine.raw_connection()
        self._conn = self._raw.dbapi_connection
        self._conn.autocommit = True
        with self._conn.cursor() as cursor:
            cursor.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout: float) -> bool:
        """Block until a notification or ``timeout``; returns whether one came (all are consumed)."""
        if not self._conn.notifies and select.select([self._conn], [], [], timeout) == ([], [], []):
            return False
        self._conn.poll()
        came = bool(self._conn.notifies)
        self._conn.notifies.clear()
        return came

    def close(self) -> None:
        """Stop listening and give the connection back."""
        self._raw.close()


def forget(conn: Connection, task: str, post_ids: list[str]) -> int:
    """Remove ``post_ids`` from ``task``'s inbox in the caller's transaction (posts another
    engine classified in that transaction); returns how many were queued."""
    return conn.execute(sa.text("DELETE FROM stream_inbox WHERE task = :task AND post_id = ANY(:ids)"),
                        {"task": task, "ids": post_ids}).rowcount
