"""``bin/annotator.sh add|role|list|disable NAME``: manage the tagger's annotator accounts.

Passwords are read from a prompt (twice) or, with ``--password-stdin``, from the first line of
standard input; only a werkzeug.security hash is stored. Roles: ``admin`` (resolves conflicts,
overrides golden labels, sees the reports, exports) and ``annotator``; the first account of a
project is an admin unless ``--role`` says otherwise. A new password (``add --update``) and
``disable`` end every session of the account.
"""
from __future__ import annotations

import getpass
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from datasets import cli
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import db
from datasets.store import annotators


@dataclass(frozen=True, slots=True)
class AccountAdded(StepResult):
    """``add``: the account ``name`` with its ``role``; ``created`` is False when ``--update`` set a new password."""

    name: str
    created: bool
    role: str
    action: str = "add"


@dataclass(frozen=True, slots=True)
class RoleSet(StepResult):
    """``role``: the account ``name`` now has ``role``."""

    name: str
    role: str
    action: str = "role"


@dataclass(frozen=True, slots=True)
class AccountDisabled(StepResult):
    """``disable``: the account ``name`` can no longer log in (``active`` is always False)."""

    name: str
    active: bool = False
    action: str = "disable"


@dataclass(frozen=True, slots=True)
class Account(StepResult):
    """One account as ``list`` shows it; ``created_at`` in ISO 8601."""

    name: str
    role: str
    active: bool
    created_at: str


@dataclass(frozen=True, slots=True)
class AccountList(StepResult):
    """``list``: every account, disabled ones included."""

    annotators: tuple[Account, ...]
    action: str = "list"


AnnotatorResult = AccountAdded | RoleSet | AccountDisabled | AccountList


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise GoldloopError("no terminal to prompt for the password: use --password-stdin")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise GoldloopError("the two passwords differ")
    return first


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/annotator.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("action", choices=["add", "role", "list", "disable"])
    p.add_argument("name", nargs="?", help="annotator name (letters, digits, '_', '.', '-')")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--update", action="store_true", help="add: set a new password for an existing account")
    p.add_argument("--role", choices=annotators.ROLES,
                   help="add, role: admin or annotator (add default: admin for the first account, else annotator)")
    args = p.parse_args(argv)
    if args.action != "list" and not args.name:
        raise GoldloopError(f"{args.action} needs an annotator NAME")
    engine = db.get_engine()
    result: AnnotatorResult
    if args.action == "add":
        annotators.validate_name(args.name)
        password = _password(args.password_stdin)
        with engine.begin() as conn:
            account, created = annotators.add(conn, args.name, password, update=args.update, role=args.role)
        result = AccountAdded(name=args.name, created=created, role=account.role)
    elif args.action == "role":
        if not args.role:
            raise GoldloopError("role needs --role admin or --role annotator")
        with engine.begin() as conn:
            annotators.set_role(conn, args.name, args.role)
        result = RoleSet(name=args.name, role=args.role)
    elif args.action == "disable":
        with engine.begin() as conn:
            annotators.disable(conn, args.name)
        result = AccountDisabled(name=args.name)
    else:
        with engine.begin() as conn:
            result = AccountList(tuple(Account(name=a.name, role=a.role, active=a.active,
                                               created_at=a.created_at.isoformat()) for a in annotators.list_all(conn)))
    cli.emit(result, args.json, _human)
    return cli.EXIT_OK


def _human(r: AnnotatorResult) -> str:
    if isinstance(r, AccountAdded):
        return f"annotator {r.name} ({r.role}) {'created' if r.created else 'updated'}"
    if isinstance(r, RoleSet):
        return f"annotator {r.name} is now {'an admin' if r.role == 'admin' else 'an annotator'}"
    if isinstance(r, AccountDisabled):
        return f"annotator {r.name} disabled"
    if not r.annotators:
        return "no annotators yet (bin/annotator.sh add NAME)"
    return "\n".join(f"{a.name:<24} {a.role:<9} {'active' if a.active else 'disabled':<9} since {a.created_at[:10]}"
                     for a in r.annotators)


if __name__ == "__main__":
    cli.run(main)
