"""``bin/tagger.sh``: serve the web tagger with granian (production WSGI server, HTTP in Rust).

Binds to 127.0.0.1 unless ``--host`` says otherwise and prints the URL to open once the server
answers. The application is built (task file read, database migrated) before any worker starts;
``--processes N`` forks N worker processes (item leases and labels live in PostgreSQL, so they
need not coordinate), each running the WSGI application on ``--threads`` threads. Workers end with
the server process, also when it is killed with SIGKILL.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence

from flask import Flask

from datasets import cli
from datasets.store import db
from datasets.store import annotators
from labeling.task import add_task_argument
from tagger_app import create_app

DEFAULT_PROCESSES = min(os.cpu_count() or 1, 4)  # one worker per core (a few at most): no GIL to share
DEFAULT_THREADS = 8  # per worker: requests mostly wait for PostgreSQL
READY_TIMEOUT_S = 60
_PR_SET_PDEATHSIG = 1


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
    info = {"url": url, "task": app.extensions["goldloop_tagger"].task.name, "annotators": len(accounts)}

    def announce() -> None:
        if args.json:
            cli.emit(info, True, str)
        else:
            print(f"goldloop tagger for task {info['task']}: {url}")
            if not accounts:
                print("no annotator accounts yet: create one with bin/annotator.sh add NAME", file=sys.stderr)
            print("Ctrl-C stops the server.")
        sys.stdout.flush()

    threading.Thread(target=_announce_when_ready, args=(args.host, port, announce), daemon=True).start()
    return _serve(app, args.host, port, args.processes, args.threads)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for ``--port 0``: every worker must bind the same one)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _announce_when_ready(host: str, port: int, announce: Callable[[], None]) -> None:
    """Call ``announce`` once the server accepts connections on ``host:port``."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=1).close()
        except OSError:
            time.sleep(0.05)
            continue
        announce()
        return
    print(f"error: the server did not answer on {host}:{port} within {READY_TIMEOUT_S} s", file=sys.stderr)


def _worker_app(app: Flask) -> Flask:
    """The application as a forked worker process runs it: own database connections, and it ends
    with the server process (SIGTERM on the parent's death, even a SIGKILL)."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)
    db.get_engine().dispose(close=False)
    return app


def _serve(app: Flask, host: str, port: int, processes: int, threads: int) -> int:
    """Run granian until Ctrl-C or SIGTERM; returns the exit status."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    server = Server("tagger_app:create_app", address=host, port=port, interface=Interfaces.WSGI, workers=processes,
                    blocking_threads=threads, log_level=LogLevels.warning, log_access=False, websockets=False,
                    workers_kill_timeout=10)
    try:
        server.serve(target_loader=lambda: _worker_app(app), wrap_loader=False)  # the app built above, not the target
    except SystemExit as exc:  # granian exits non-zero when a worker failed
        return int(exc.code or 0)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
