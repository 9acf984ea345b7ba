"""``bin/db.sh start|stop|status|url``: manage the embedded PostgreSQL server."""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from datasets import cli, workspace
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import db


@dataclass(frozen=True, slots=True)
class ServerStatus(StepResult):
    """The database goldloop uses: the ``backend`` (``embedded``, or ``external`` with
    DATABASE_URL), the embedded server's data directory, whether it runs (and its ``pid``),
    and whether it is kept running between commands (``bin/db.sh start``)."""

    backend: str
    pgdata: str
    running: bool
    pid: int | None
    keep_running: bool


@dataclass(frozen=True, slots=True)
class DatabaseUrl(StepResult):
    """``url``: the SQLAlchemy URL of the database, for other tools."""

    url: str


def _status() -> ServerStatus:
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(workspace.pgdata_dir()) if workspace.pgdata_dir().exists() else None
    running = bool(info and info.is_running())
    return ServerStatus(backend="external" if os.environ.get("DATABASE_URL") else "embedded",
                        pgdata=str(workspace.pgdata_dir()), running=running, pid=info.pid if running else None,
                        keep_running=db.keep_running_marker().exists())


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/db.sh", "Manage goldloop's embedded PostgreSQL server (ignored when DATABASE_URL is set).")
    p.add_argument("action", choices=["start", "stop", "status", "url"],
                   help="start: start and keep running; stop: stop it; status: report; url: print the SQLAlchemy URL")
    args = p.parse_args(argv)
    if args.action == "url":
        cli.emit(DatabaseUrl(db.database_url()), args.json, lambda r: r.url)
        return cli.EXIT_OK
    if os.environ.get("DATABASE_URL") and args.action in ("start", "stop"):
        raise GoldloopError("DATABASE_URL is set: goldloop does not manage that server")
    if args.action == "start":
        db.keep_running_marker().touch()
        db.embedded_server(keep_running=True)
        db.get_engine()  # applies migrations
    elif args.action == "stop":
        db.keep_running_marker().unlink(missing_ok=True)
        if _status().running:
            from pgserver._commands import pg_ctl

            server = db.embedded_server(keep_running=True)
            pg_ctl(["-w", "stop"], pgdata=workspace.pgdata_dir(), user=server.system_user)
    cli.emit(_status(), args.json, lambda s: (
        f"embedded PostgreSQL {'running (pid %s)' % s.pid if s.running else 'stopped'}; data in {s.pgdata}"
        if s.backend == "embedded" else "using DATABASE_URL (external server)"))
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
