"""Failed logins, per account and per client address, with growing lock-out delays.

The first ``FREE_FAILURES`` failures of a key cost nothing; each further one locks the key for
twice as long as the one before (1 s, 2 s, 4 s ... at most ``MAX_LOCK_S``). A key left alone for
``FORGET_AFTER`` after its lock ends starts again from zero. Kept in PostgreSQL so that every
server process sees the same counts; a locked login is refused before its password is hashed.
"""
from __future__ import annotations

import math

import sqlalchemy as sa
from sqlalchemy.engine import Connection

FREE_FAILURES = 3
MAX_LOCK_S = 900
FORGET_AFTER = "15 minutes"


def keys(name: str, address: str | None) -> list[str]:
    """The throttling keys of one login attempt."""
    return [f"account:{name}", f"address:{address or 'unknown'}"]


def locked_for(conn: Connection, throttle_keys: list[str]) -> int:
    """Seconds until every key of ``throttle_keys`` accepts a login again (0: now)."""
    left = conn.execute(sa.text(
        "SELECT extract(epoch FROM max(locked_until) - now()) FROM login_failures"
        " WHERE key = ANY(:keys) AND locked_until > now()"
    ), {"keys": throttle_keys}).scalar()
    return math.ceil(left) if left else 0


_FAILURES = f"CASE WHEN f.locked_until < now() - interval '{FORGET_AFTER}' THEN 1 ELSE f.failures + 1 END"


def record_failure(conn: Connection, throttle_keys: list[str]) -> None:
    """Count one failed login against each key and lock those past their free failures."""
    conn.execute(sa.text(
        "INSERT INTO login_failures AS f (key, failures, locked_until) SELECT k, 1, now() FROM unnest(:keys) k"
        f" ON CONFLICT (key) DO UPDATE SET failures = {_FAILURES}, locked_until = now() + make_interval(secs =>"
        f"  CASE WHEN {_FAILURES} > :free THEN least(power(2, {_FAILURES} - :free - 1), :max_s) ELSE 0 END)"
    ), {"keys": throttle_keys, "free": FREE_FAILURES, "max_s": MAX_LOCK_S})


def clear(conn: Connection, name: str) -> None:
    """Forget the account's failures after a successful login (its address keeps its count)."""
    conn.execute(sa.text("DELETE FROM login_failures WHERE key = :k"), {"k": f"account:{name}"})
