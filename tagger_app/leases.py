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

    def claim(self, task: str, annotator: str, post_ids: list[str], limit: int | None = None) -> list[str]:
        """Lease to ``annotator`` the first ``limit`` of ``post_ids`` nobody else holds; return them (atomic)."""
        now = time.monotonic()
        claimed: list[str] = []
        with self._lock:
            for post_id in post_ids:
                if limit is not None and len(claimed) >= limit:
                    break
                who, expiry = self._held.get((task, post_id), (annotator, 0.0))
                if who == annotator or expiry <= now:
                    self._held[(task, post_id)] = (annotator, now + self.ttl)
                    claimed.append(post_id)
        return claimed

    def release(self, task: str, annotator: str, post_id: str, linger: float = 5.0) -> None:
        """Shorten the annotator's lease on ``post_id`` after they answered it.

        The lease lingers ``linger`` seconds: a queue query that started before the answer was
        committed cannot see it, so it must still find the item leased.
        """
        with self._lock:
            if self._held.get((task, post_id), ("",))[0] == annotator:
                self._held[(task, post_id)] = (annotator, time.monotonic() + linger)

    def held_by_others(self, task: str, annotator: str) -> list[str]:
        """Post ids currently leased to anyone but ``annotator`` (expired leases are dropped)."""
        now = time.monotonic()
        with self._lock:
            expired = [key for key, (_, expiry) in self._held.items() if expiry <= now]
            for key in expired:
                del self._held[key]
            return [post_id for (t, post_id), (who, _) in self._held.items() if t == task and who != annotator]
