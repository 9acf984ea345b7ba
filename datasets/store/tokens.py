"""The ``api_tokens`` table: bearer tokens of the predict API, stored as SHA-256 hashes.

Tokens are ``secrets.token_urlsafe(32)`` (256 random bits), so a plain SHA-256 is enough to
keep a stolen table useless (no password stretching is needed for high-entropy secrets), and a
look-up by hash is one index probe. Revoking keeps the row for the record.
"""
from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection


class ApiToken(NamedTuple):
    """One token's record (never the token itself)."""

    name: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


def add(conn: Connection, name: str, token_hash: str) -> bool:
    """Store a new token's hash under ``name``; False when the name is taken."""
    row = conn.execute(sa.text("INSERT INTO api_tokens (name, token_hash) VALUES (:name, :hash)"
                               " ON CONFLICT (name) DO NOTHING RETURNING id"), {"name": name, "hash": token_hash}).first()
    return row is not None


def all_tokens(conn: Connection) -> list[ApiToken]:
    """Every token record, oldest first."""
    rows = conn.execute(sa.text("SELECT name, created_at, revoked_at, last_used_at FROM api_tokens ORDER BY id")).all()
    return [ApiToken(*row) for row in rows]


def revoke(conn: Connection, name: str) -> bool:
    """Revoke the active token ``name``; False when there is no such active token."""
    row = conn.execute(sa.text("UPDATE api_tokens SET revoked_at = clock_timestamp()"
                               " WHERE name = :name AND revoked_at IS NULL RETURNING id"), {"name": name}).first()
    return row is not None


def active_hashes(conn: Connection) -> dict[str, str]:
    """Hash -> name of every token not revoked."""
    rows = conn.execute(sa.text("SELECT token_hash, name FROM api_tokens WHERE revoked_at IS NULL")).all()
    return {h: n for h, n in rows}


def touch(conn: Connection, name: str) -> None:
    """Record that token ``name`` was just used."""
    conn.execute(sa.text("UPDATE api_tokens SET last_used_at = clock_timestamp() WHERE name = :name"), {"name": name})
