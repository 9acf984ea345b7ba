"""``bin/tagger.sh``: serve the web tagger with granian (production WSGI server, HTTP in Rust).

Binds to 127.0.0.1 unless ``--host`` says otherwise and prints the URL to open once the server
answers. The application is built (task file read, database migrated) before any worker starts;
``--processes N`` forks N worker processes (item leases and labels live in PostgreSQL, so they
need not coordinate), each running the WSGI application on ``--threads`` threads
(:mod:`datasets.http_server`).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from datasets import cli
from datasets.http_server import announce_when_ready, free_port, serve
from datasets.results import StepResult
from datasets.store import db
from datasets.store import annotators
from labeling.task import add_task_argument
from tagger_app import create_app

DEFAULT_PROCESSES = min(os.cpu_count() or 1, 4)  # one worker per core (a few at most): no GIL to share
DEFAULT_THREADS = 8  # per worker: requests mostly wait for PostgreSQL


@dataclass(frozen=True, slots=True)
class TaggerReady(StepResult):
    """What ``--json`` announces once the server answers: the ``url`` to open, the ``task``
    served and how many active ``annotators`` can log in (0: create one first)."""

    url: str
    task: str
    annotators: int


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/tagger.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    add_task_argument(p)
    p.add_argument("--version", type=int, help="data-set version to serve (default: the latest)")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"application threads per worker process (default {DEFAULT_THREADS})")
    p.add_argument("--processes", type=int, default=DEFAULT_PROCESSES,
                   help=f"worker processes (default {DEFAULT_PROCESSES}: the number of CPUs, at most 4)")
    args = p.parse_args(argv)
    if args.processes < 1 or args.threads < 1:
        p.error("--processes and --threads must be at least 1")
    app = create_app({"TAGGER_TASK": args.task, "TAGGER_VERSION": args.version})
    with app.app_context():
        with db.get_engine().connect() as conn:  # connect (and migrate) before announcing the URL
            accounts = [a for a in annotators.list_all(conn) if a.active]
    port = args.port or free_port(args.host)
    url = f"http://{args.host}:{port}/"
    info = TaggerReady(url=url, task=app.extensions["goldloop_tagger"].task.name, annotators=len(accounts))

    def announce() -> None:
        if args.json:
            cli.emit(info, True, str)
        else:
            print(f"goldloop tagger for task {info.task}: {url}")
            if not accounts:
                print("no annotator accounts yet: create one with bin/annotator.sh add NAME", file=sys.stderr)
            print("Ctrl-C stops the server.")
        sys.stdout.flush()

    announce_when_ready(args.host, port, announce)
    return serve(app, args.host, port, args.processes, args.threads)


if __name__ == "__main__":
    cli.run(main)
