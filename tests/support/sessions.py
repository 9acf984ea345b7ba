"""Database sessions of child processes a test kills.

A server backend finishes a COMMIT it has received even when its client is killed right after
sending it, so rows can still appear after ``kill -9`` has returned. Children started with
:func:`child_env` name their sessions; :func:`wait_for_sessions_to_end` waits until the
server has closed them, after which what a test reads is final.
"""
from __future__ import annotations

import os
import time

import sqlalchemy as sa

CHILD_APPLICATION = "goldloop-test-child"


def child_env() -> dict[str, str]:
    """The environment for a child process whose database sessions a test may wait out (libpq
    reads ``PGAPPNAME`` as the sessions' ``application_name``)."""
    return {**os.environ, "PGAPPNAME": CHILD_APPLICATION}


def wait_for_sessions_to_end(engine: sa.engine.Engine, timeout: float = 60.0) -> None:
    """Wait until no session of a :func:`child_env` child is open on the engine's database."""
    deadline = time.monotonic() + timeout
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                    "AND datname = current_database()")
    with engine.connect() as conn:
        while conn.execute(query, {"app": CHILD_APPLICATION}).scalar():
            assert time.monotonic() < deadline, f"a killed child's database session was still open after {timeout} s"
            conn.rollback()
            time.sleep(0.1)
