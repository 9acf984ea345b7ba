"""What the tagger keeps per application: the task, its settings, and database transactions."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.engine import Connection

from datasets.errors import GoldloopError
from datasets.store import db, versions
from labeling.task import Task, load_task


@dataclass(frozen=True)
class TaggerState:
    """Per-application settings (see ``create_app`` for the config keys)."""

    task: Task
    version: int | None
    annotations_per_item: int

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "TaggerState":
        """Load the task file and validate the tagger settings."""
        task = load_task(config.get("TAGGER_TASK"))
        cap = config.get("TAGGER_ANNOTATIONS_PER_ITEM")  # the task file's value was checked by load_task
        if cap is None:
            cap = task.section("tagger").get("annotations_per_item", 1)
        elif not isinstance(cap, int) or cap < 1:
            raise GoldloopError(f"TAGGER_ANNOTATIONS_PER_ITEM must be a positive integer, got {cap!r}")
        version = config.get("TAGGER_VERSION")
        return cls(task=task, version=int(version) if version is not None else None, annotations_per_item=cap)

    def current_version(self, conn: Connection) -> int | None:
        """The configured data-set version, else the latest one (None when there is none)."""
        if self.version is not None:
            return self.version
        return versions.latest(conn)


def tagger() -> TaggerState:
    """The running application's ``TaggerState``."""
    return current_app.extensions["goldloop_tagger"]


@contextmanager
def transaction() -> Iterator[Connection]:
    """A connection of the process's pool inside one transaction, committed when the block ends
    without error (so before any response acknowledges a write), rolled back otherwise."""
    with db.get_engine().begin() as conn:
        yield conn
