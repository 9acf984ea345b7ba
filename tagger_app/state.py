"""What the tagger keeps per process: the task, the engine, version selection and queue marks."""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g
from sqlalchemy.engine import Connection, Engine

from datasets import db
from datasets.errors import GoldloopError
from labeling.task import Task, load_task
from tagger_app.marks import Marks

VERSION_TTL_S = 2.0
POOL_SIZE = 16


@dataclass
class TaggerState:
    """Per-application settings and shared objects (see ``create_app`` for the config keys)."""

    task: Task
    version: int | None
    annotations_per_item: int
    marks: Marks = field(default_factory=Marks)
    _engine: Engine | None = None
    _latest: tuple[float, int | None] = (0.0, None)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TaggerState":
        """Load the task file and validate the tagger settings."""
        task = load_task(config.get("TAGGER_TASK"))
        cap = config.get("TAGGER_ANNOTATIONS_PER_ITEM") or task.section("tagger").get("annotations_per_item", 1)
        if not isinstance(cap, int) or cap < 1:
            raise GoldloopError(f"{task.path}: [tagger] annotations_per_item must be a positive integer, got {cap!r}")
        version = config.get("TAGGER_VERSION")
        return cls(task=task, version=int(version) if version is not None else None, annotations_per_item=cap)

    @property
    def engine(self) -> Engine:
        """The tagger's engine on the goldloop database (schema migrated on first use).

        Its own pool, sized for the server's threads and without a ping per checkout: each
        request uses one connection, and a connection broken by a database restart fails one
        request (the client keeps the answer and retries) and is then replaced. Connections are
        in autocommit mode (see ``connection``), so a connection going back to the pool has no
        transaction to roll back (no reset round trip); ``transaction`` uses the shared
        transactional engine.
        """
        if self._engine is None:
            self._engine = sa.create_engine(db.get_engine().url, pool_size=POOL_SIZE, max_overflow=POOL_SIZE,
                                            isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
        return self._engine

    def current_version(self, conn: Connection) -> int | None:
        """The configured data-set version, else the latest one (None when there is none)."""
        if self.version is not None:
            return self.version
        checked_at, latest = self._latest
        if time.monotonic() - checked_at > VERSION_TTL_S:  # a new version shows up within seconds
            latest = conn.execute(sa.text("SELECT max(version) FROM dataset_versions")).scalar()
            self._latest = (time.monotonic(), latest)
        return latest


def tagger() -> TaggerState:
    """The running application's ``TaggerState``."""
    return current_app.extensions["goldloop_tagger"]


def connection() -> Connection:
    """The request's database connection, in autocommit mode: each statement commits on its own,
    so a single-statement write (a label, a resolution) is durable when ``execute`` returns,
    and reads cost no BEGIN/COMMIT round trips. One per request, back to the pool at its end."""
    if "goldloop_conn" not in g:
        g.goldloop_conn = tagger().engine.connect()
    return g.goldloop_conn


@contextmanager
def autocommit() -> Iterator[Connection]:
    """``connection()`` as a context manager (see there: every statement commits by itself)."""
    yield connection()


@contextmanager
def transaction() -> Iterator[Connection]:
    """A separate connection inside one transaction for multi-statement writes, committed when
    the block ends without error (before any response is sent), rolled back otherwise."""
    with db.get_engine().begin() as conn:
        yield conn


def init_app(app: Flask) -> None:
    """Return each request's connection to the pool when the request ends."""
    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        conn = g.pop("goldloop_conn", None)
        if conn is not None:
            conn.close()
