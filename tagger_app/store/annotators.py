"""Annotator accounts: names, werkzeug password hashes, and the active flag."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from werkzeug.security import check_password_hash, generate_password_hash

from datasets.errors import GoldloopError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD_LENGTH = 8
# A real hash of a random string: verifying unknown names costs as much as known ones (no timing oracle).
_DUMMY_HASH = generate_password_hash("goldloop-no-such-annotator")


@dataclass(frozen=True)
class Annotator:
    """One annotator account as stored (without the password hash)."""

    name: str
    active: bool
    created_at: datetime
    disabled_at: datetime | None


def validate_name(name: str) -> str:
    """Return ``name`` when it is a valid account name, else raise a clear error."""
    if not NAME_PATTERN.match(name or ""):
        raise GoldloopError(f"annotator name {name!r}: use 1-64 letters, digits, '_', '.' or '-'")
    return name


def validate_password(password: str) -> str:
    """Return ``password`` when it is long enough, else raise a clear error."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise GoldloopError(f"password: at least {MIN_PASSWORD_LENGTH} characters, please")
    return password


def add(conn: Connection, name: str, password: str, update: bool = False) -> bool:
    """Create the account ``name`` (or, with ``update``, reset its password and re-enable it).

    Returns True when a new account was created.
    """
    validate_name(name)
    password_hash = generate_password_hash(validate_password(password))
    exists = conn.execute(sa.text("SELECT 1 FROM annotators WHERE name = :n FOR UPDATE"), {"n": name}).scalar()
    if exists and not update:
        raise GoldloopError(f"annotator {name!r} already exists (use --update to set a new password)")
    conn.execute(sa.text(
        "INSERT INTO annotators (name, password_hash) VALUES (:n, :h) "
        "ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, active = true, disabled_at = NULL"
    ), {"n": name, "h": password_hash})
    return not exists


def disable(conn: Connection, name: str) -> None:
    """Disable the account ``name``: it can no longer log in and its open sessions end."""
    done = conn.execute(sa.text(
        "UPDATE annotators SET active = false, disabled_at = COALESCE(disabled_at, now()) WHERE name = :n"
    ), {"n": name}).rowcount
    if not done:
        raise GoldloopError(f"no annotator named {name!r}")


def list_all(conn: Connection) -> list[Annotator]:
    """All accounts, by name."""
    rows = conn.execute(sa.text("SELECT name, active, created_at, disabled_at FROM annotators ORDER BY name"))
    return [Annotator(*row) for row in rows]


def get_active(conn: Connection, name: str) -> Annotator | None:
    """The active account ``name``, or None when it does not exist or is disabled."""
    row = conn.execute(sa.text(
        "SELECT name, active, created_at, disabled_at FROM annotators WHERE name = :n AND active"
    ), {"n": name}).first()
    return Annotator(*row) if row else None


def authenticate(conn: Connection, name: str, password: str) -> Annotator | None:
    """The active account when ``password`` matches, else None (same cost either way)."""
    row = conn.execute(sa.text(
        "SELECT name, active, created_at, disabled_at, password_hash FROM annotators WHERE name = :n"
    ), {"n": name}).first()
    ok = check_password_hash(row.password_hash if row else _DUMMY_HASH, password)
    if not (row and ok and row.active):
        return None
    return Annotator(row.name, row.active, row.created_at, row.disabled_at)
