"""The production model a serving process answers with, swapped when the registry changes.

A background thread asks the registry for the task's latest event id once a second
(``production_event_id``: one index look-up). A new id means a promotion or rollback: the new
model is loaded aside while requests keep using the current one, then the reference is replaced
in one assignment (atomic in Python), so no request waits for a load or fails during a swap; a
request that already took the old model finishes with it. A failed load keeps the old model
serving and is reported by ``/readyz`` and on stderr, and retried at the next change.
"""
from __future__ import annotations

import sys
import threading

from sqlalchemy.engine import Engine

from datasets.errors import GoldloopError
from labeling.task import Task
from models.production import ProductionModel, load_production, production_event_id

POLL_SECONDS = 1.0


class ModelHolder:
    """The current :class:`ProductionModel` of one task (None until the first load succeeds)."""

    def __init__(self, engine: Engine, task: Task, poll_seconds: float = POLL_SECONDS) -> None:
        self.engine = engine
        self.task = task
        self.poll_seconds = poll_seconds
        self.model: ProductionModel | None = None
        self.problem: str | None = "loading the production model"
        self._tried: int | None = None  # the event id of the last load attempt
        self._stop = threading.Event()

    def start(self) -> None:
        """Load the production model and keep it current, in a daemon thread."""
        threading.Thread(target=self._run, name="model-reload", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception as exc:  # the database away for a moment: keep serving, try again
                self.problem = f"cannot check the model registry: {exc}"
            self._stop.wait(self.poll_seconds)

    def refresh(self) -> None:
        """Load the production model when the registry's latest event differs from the last one tried."""
        event_id = production_event_id(self.engine, self.task)
        if event_id is None:
            self.problem = (f"no production model for task {self.task.name}: "
                            "promote a trained run with bin/model.sh promote RUN")
            return
        if event_id == self._tried:
            return
        self._tried = event_id
        try:
            model = load_production(self.engine, self.task)
        except GoldloopError as exc:
            self.problem = f"cannot load the production model of event {event_id}: {exc}"
            print(f"error: {self.problem}", file=sys.stderr, flush=True)
            return
        self._tried = model.event_id  # a newer event may have come meanwhile: load_production took it
        self.model = model  # the swap: one reference assignment
        self.problem = None
