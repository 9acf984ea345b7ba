"""Bearer tokens of the predict API: creation, hashing and the per-request check.

A token is ``secrets.token_urlsafe(32)``, shown once when created; the database keeps its
SHA-256 (``datasets/store/tokens.py``). Each request's token is hashed and compared with every
active hash by ``hmac.compare_digest`` (constant time, so response timing says nothing about
how close a guess was). The active hashes are re-read at most once a second, so a revocation
takes effect within a second without a database round trip per request; a token's
``last_used_at`` is written at most once a minute.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from sqlalchemy.engine import Engine

from datasets.store import tokens

REFRESH_SECONDS = 1.0
TOUCH_SECONDS = 60.0  # last_used_at is written at most once a minute per token: not a write per request


def new_token() -> tuple[str, str]:
    """A fresh random token and its stored hash."""
    token = secrets.token_urlsafe(32)
    return token, token_hash(token)


def token_hash(token: str) -> str:
    """SHA-256 hex of a token (enough for 256-bit random secrets; nothing to stretch)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenChecker:
    """Which token, if any, an ``Authorization: Bearer ...`` header carries."""

    def __init__(self, engine: Engine, refresh_seconds: float = REFRESH_SECONDS) -> None:
        self.engine = engine
        self.refresh_seconds = refresh_seconds
        self._active: list[tuple[str, str]] = []
        self._read_at = float("-inf")
        self._touched: dict[str, float] = {}
        self._lock = threading.Lock()

    def _hashes(self) -> list[tuple[str, str]]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_seconds:
                with self.engine.connect() as conn:
                    self._active = list(tokens.active_hashes(conn).items())
                self._read_at = time.monotonic()
            return self._active

    def name_of(self, header: str | None) -> str | None:
        """The active token's name, or None (no header, not ``Bearer``, unknown or revoked token)."""
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        wanted = token_hash(token.strip())
        found = None
        for stored, name in self._hashes():
            if hmac.compare_digest(stored, wanted):
                found = name
        if found is not None and time.monotonic() - self._touched.get(found, float("-inf")) >= TOUCH_SECONDS:
            self._touched[found] = time.monotonic()
            with self.engine.begin() as conn:
                tokens.touch(conn, found)
        return found
