"""Annotator accounts: names, werkzeug password hashes, roles, the active flag and the session epoch.

Every session carries the account's ``session_epoch`` from when it began; ``end_sessions`` (logout),
a new password and disabling increment it, so every older session stops working at once.
"""
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
ROLES = ("admin", "annotator")  # the CHECK constraint of annotators.role (migration 017)
_FIELDS = "name, role, active, created_at, disabled_at, session_epoch"
# A real hash of a random string: verifying unknown names costs as much as known ones (no timing oracle).
_DUMMY_HASH = generate_password_hash("goldloop-no-such-annotator")


@dataclass(frozen=True)
class Annotator:
    """One annotator account as stored (without the password hash)."""

    name: str
    role: str
    active: bool
    created_at: datetime
    disabled_at: datetime | None
    session_epoch: int

    @property
    def is_admin(self) -> bool:
        """Admins resolve conflicts, override golden labels, see the reports and export."""
        return self.role == "admin"


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


def add(conn: Connection, name: str, password: str, update: bool = False,
        role: str | None = None) -> tuple[Annotator, bool]:
    """Create the account ``name`` (or, with ``update``, set a new password, re-enable it and end
    its sessions); returns it and whether it is new.

    ``role`` None: an existing account keeps its role; a new one is an admin when no admin exists
    yet (the first account of a project), else an annotator.
    """
    validate_name(name)
    password_hash = generate_password_hash(validate_password(password))
    exists = conn.execute(sa.text("SELECT 1 FROM annotators WHERE name = :n FOR UPDATE"), {"n": name}).scalar()
    if exists and not update:
        raise GoldloopError(f"annotator {name!r} already exists (use --update to set a new password)")
    if role is None and not exists:
        conn.execute(sa.text("LOCK TABLE annotators IN SHARE ROW EXCLUSIVE MODE"))  # two first accounts at once
        has_admin = conn.execute(sa.text("SELECT 1 FROM annotators WHERE role = 'admin' LIMIT 1")).scalar()
        role = "annotator" if has_admin else "admin"
    row = conn.execute(sa.text(
        "INSERT INTO annotators (name, password_hash, role) VALUES (:n, :h, COALESCE(:r, 'annotator')) "
        "ON CONFLICT (name) DO UPDATE SET password_hash = EXCLUDED.password_hash, active = true, disabled_at = NULL,"
        f" role = COALESCE(:r, annotators.role), session_epoch = annotators.session_epoch + 1 RETURNING {_FIELDS}"
    ), {"n": name, "h": password_hash, "r": role}).one()
    return Annotator(*row), not exists


def set_role(conn: Connection, name: str, role: str) -> None:
    """Make ``name`` an admin or an annotator."""
    done = conn.execute(sa.text("UPDATE annotators SET role = :r WHERE name = :n"),
                        {"n": name, "r": role}).rowcount
    if not done:
        raise GoldloopError(f"no annotator named {name!r}")


def disable(conn: Connection, name: str) -> None:
    """Disable the account ``name``: it can no longer log in and its open sessions end."""
    done = conn.execute(sa.text(
        "UPDATE annotators SET active = false, disabled_at = COALESCE(disabled_at, now()),"
        " session_epoch = session_epoch + 1 WHERE name = :n"
    ), {"n": name}).rowcount
    if not done:
        raise GoldloopError(f"no annotator named {name!r}")


def end_sessions(conn: Connection, name: str) -> None:
    """End every session of ``name`` (logout ends them on every device)."""
    conn.execute(sa.text("UPDATE annotators SET session_epoch = session_epoch + 1 WHERE name = :n"), {"n": name})


def list_all(conn: Connection) -> list[Annotator]:
    """All accounts, by name."""
    rows = conn.execute(sa.text(f"SELECT {_FIELDS} FROM annotators ORDER BY name"))
    return [Annotator(*row) for row in rows]


def session_account(conn: Connection, name: str, epoch: int) -> Annotator | None:
    """The active account ``name`` when ``epoch`` is its current session epoch, else None."""
    row = conn.execute(sa.text(
        f"SELECT {_FIELDS} FROM annotators WHERE name = :n AND active AND session_epoch = :e"
    ), {"n": name, "e": epoch}).first()
    return Annotator(*row) if row else None


def authenticate(conn: Connection, name: str, password: str) -> Annotator | None:
    """The active account when ``password`` matches, else None (same cost either way)."""
    row = conn.execute(sa.text(f"SELECT {_FIELDS}, password_hash FROM annotators WHERE name = :n"),
                       {"n": name}).first()
    ok = check_password_hash(row.password_hash if row else _DUMMY_HASH, password)
    if not (row and ok and row.active):
        return None
    return Annotator(*row[:-1])
