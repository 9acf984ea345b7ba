"""Low-water marks of the collecting queues (see ``QueueQuery.advance``), kept per process.

An undo can reopen an item behind a mark. The process that served the undo clears its marks at
once; every process also compares the task's latest undo when it advances a mark (``sync_undos``),
so marks of other server processes are dropped within ``ADVANCE_EVERY_S`` as well.
"""
from __future__ import annotations

import threading
import time
from typing import Any

ADVANCE_EVERY_S = 0.05
_UNSEEN = object()  # no undo id read yet


class Marks:
    """Thread-safe map of queue key -> order key below which every item is closed for everyone."""

    def __init__(self) -> None:
        self._marks: dict[tuple, Any] = {}
        self._generation = 0
        self._undos: int | None | object = _UNSEEN
        self._advanced: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def due(self, key: tuple | None) -> bool:
        """Whether queue ``key``'s mark should be recomputed now (at most every ``ADVANCE_EVERY_S``)."""
        if key is None:
            return False
        now = time.monotonic()
        with self._lock:
            if now - self._advanced.get(key, 0.0) < ADVANCE_EVERY_S:
                return False
            self._advanced[key] = now
            return True

    def get(self, key: tuple | None) -> tuple[Any, int]:
        """(mark of queue ``key`` or None to scan from the start, generation to pass to ``raise_to``)."""
        with self._lock:
            return (self._marks.get(key) if key else None), self._generation

    def raise_to(self, key: tuple | None, value: Any, generation: int) -> None:
        """Move the mark forward to ``value`` (never backwards; None leaves it), unless a ``clear``
        happened since ``generation`` was read (the value may predate a reopened item)."""
        if key is None or value is None:
            return
        with self._lock:
            current = self._marks.get(key)
            if generation == self._generation and (current is None or value > current):
                self._marks[key] = value

    def sync_undos(self, latest_undo: int | None) -> None:
        """Clear every mark when the task's latest undo differs from the last one seen (an item may
        have reopened)."""
        with self._lock:
            changed = self._undos is not _UNSEEN and latest_undo != self._undos
            self._undos = latest_undo
        if changed:
            self.clear()

    def clear(self) -> None:
        """Forget every mark (an undo may have reopened an item anywhere)."""
        with self._lock:
            self._marks.clear()
            self._generation += 1
