"""``bin/token.sh``: bearer tokens of the predict API (add NAME, list, revoke NAME).

``add`` prints the new token once: only its SHA-256 is stored, so it cannot be shown again
(revoke it and add another when it is lost). A revoked token is refused within a second by
running servers; its record stays.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from datasets import cli
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import sql, tokens
from models.serving.auth import new_token

NAME_RULE = "1-64 letters, digits, '_', '.' or '-'"


@dataclass(frozen=True, slots=True)
class TokenAdded(StepResult):
    name: str
    token: str


@dataclass(frozen=True, slots=True)
class TokenList(StepResult):
    tokens: list[dict[str, str | None]]


@dataclass(frozen=True, slots=True)
class TokenRevoked(StepResult):
    name: str


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _check_name(name: str) -> str:
    if not (0 < len(name) <= 64 and all(c.isascii() and (c.isalnum() or c in "_.-") for c in name)):
        raise GoldloopError(f"token name {name!r}: use {NAME_RULE}")
    return name


def add(name: str) -> TokenAdded:
    """Create token ``name``; the result holds the only copy of the token."""
    token, hashed = new_token()
    with sql.transaction() as conn:
        if not tokens.add(conn, _check_name(name), hashed):
            raise GoldloopError(f"a token named {name!r} exists already (revoked names stay taken): choose another name")
    return TokenAdded(name=name, token=token)


def listing() -> TokenList:
    with sql.transaction() as conn:
        rows = tokens.all_tokens(conn)
    return TokenList(tokens=[{"name": t.name, "created_at": _when(t.created_at), "revoked_at": _when(t.revoked_at),
                              "last_used_at": _when(t.last_used_at)} for t in rows])


def revoke(name: str) -> TokenRevoked:
    with sql.transaction() as conn:
        if not tokens.revoke(conn, name):
            raise GoldloopError(f"no active token named {name!r} (bin/token.sh list shows them)")
    return TokenRevoked(name=name)


def _list_text(r: TokenList) -> str:
    if not r.tokens:
        return "no tokens yet: bin/token.sh add NAME"
    return "\n".join(f"{t['name']:<24} created {t['created_at']}" + (f", revoked {t['revoked_at']}" if t["revoked_at"]
                                                                     else "") for t in r.tokens)


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/token.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    json_after = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)  # --json after it too
    json_after.add_argument("--json", action="store_true", help="print the result as one JSON object on stdout")
    sub = p.add_subparsers(dest="command", required=True, metavar="add|list|revoke")
    sub.add_parser("add", parents=[json_after], help="create a token and print it (once)").add_argument(
        "name", help=NAME_RULE)
    sub.add_parser("list", parents=[json_after], help="every token's name and dates (never the token)")
    sub.add_parser("revoke", parents=[json_after], help="refuse a token from now on").add_argument("name")
    args = p.parse_args(argv)
    if args.command == "add":
        cli.emit(add(args.name), args.json,
                 lambda r: f"token {r.name}: {r.token}\nshown only now: store it safely (only its hash is kept)")
    elif args.command == "list":
        cli.emit(listing(), args.json, _list_text)
    else:
        cli.emit(revoke(args.name), args.json, lambda r: f"token {r.name} revoked")
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
