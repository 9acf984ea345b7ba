"""Short in-memory leases so that annotators working at once are not served the same item.

An item handed to one annotator (shown or preloaded) is held for ``ttl`` seconds or until they
answer it; meanwhile the queues skip it for everyone else. Leases live in the server process
(waitress runs one process with threads) and are only an optimisation: losing them on a restart
can at worst show an item twice, never lose a label.
"""
from __future__ import annotations

import threading
import time


class Leases:
    """Thread-safe map of (task, post_id) -> (annotator, expiry)."""

    def __init__(self, ttl: float = 600.0) -> None:
        self.ttl = ttl
        self._held: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def hold(self, task: str, annotator: str, post_ids: list[str]) -> None:
        """Lease ``post_ids`` to ``annotator``."""
        expiry = time.monotonic() + self.ttl
        with self._lock:
            for post_id in post_ids:
                self._held[(task, post_id)] = (annotator, expiry)

    def release(self, task: str, annotator: str, post_id: str) -> None:
        """End the annotator's lease on ``post_id`` (after they answered it)."""
        with self._lock:
            if self._held.get((task, post_id), ("",))[0] == annotator:
                del self._held[(task, post_id)]

    def held_by_others(self, task: str, annotator: str) -> list[str]:
        """Post ids currently leased to anyone but ``annotator`` (expired leases are dropped)."""
        now = time.monotonic()
        with self._lock:
            expired = [key for key, (_, expiry) in self._held.items() if expiry <= now]
            for key in expired:
                del self._held[key]
            return [post_id for (t, post_id), (who, _) in self._held.items() if t == task and who != annotator]
