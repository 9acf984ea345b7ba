"""Serving a Flask application with granian (production WSGI server, HTTP in Rust): what the
tagger (``bin/tagger.sh``) and the predict API (``bin/serve.sh``) share.

The application is built (settings read, database migrated) in the server process before any
worker starts; ``processes`` forked workers run it on ``threads`` threads each and end with the
server process, also when it is killed with SIGKILL. ``on_worker`` runs once in each worker
after the fork (for what must not be inherited through a fork, such as TensorFlow's threads).
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from flask import Flask

from datasets import cli
from datasets.store import db

READY_TIMEOUT_S = 60
_PR_SET_PDEATHSIG = 1


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (for ``--port 0``: every worker must bind the same one)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def announce_when_ready(host: str, port: int, announce: Callable[[], None]) -> None:
    """Call ``announce`` (in a background thread) once the server accepts connections on ``host:port``."""
    threading.Thread(target=_announce, args=(host, port, announce), daemon=True).start()


def _announce(host: str, port: int, announce: Callable[[], None]) -> None:
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


def _worker_app(app: Flask, on_worker: Callable[[Flask], None] | None) -> Flask:
    """The application as a forked worker process runs it: own database connections, and it ends
    with the server process (SIGTERM on the parent's death, even a SIGKILL)."""
    ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)
    db.get_engine().dispose(close=False)
    if on_worker is not None:
        on_worker(app)
    return app


def serve(app: Flask, host: str, port: int, processes: int, threads: int,
          on_worker: Callable[[Flask], None] | None = None) -> int:
    """Run granian until Ctrl-C or SIGTERM; returns the exit status."""
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    server = Server(f"{app.import_name}:create_app", address=host, port=port, interface=Interfaces.WSGI,
                    workers=processes, blocking_threads=threads, log_level=LogLevels.warning, log_access=False,
                    websockets=False, workers_kill_timeout=10)
    try:  # the app built above, not the target
        server.serve(target_loader=lambda: _worker_app(app, on_worker), wrap_loader=False)
    except SystemExit as exc:  # granian exits non-zero when a worker failed
        return int(exc.code or 0)
    return cli.EXIT_OK
