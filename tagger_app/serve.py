"""``bin/tagger.sh``: serve the web tagger with waitress (production WSGI server).

Binds to 127.0.0.1 unless ``--host`` says otherwise and prints the URL to open. With
``--processes N`` (N > 1) the bound socket is shared by N forked waitress processes, so Python
uses more than one core; item leases and labels live in PostgreSQL, so the processes need not
coordinate. Each child ends with the parent (also on SIGKILL of the parent).
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from collections.abc import Sequence

from flask import Flask

from datasets import cli, db
from labeling.task import add_task_argument
from tagger_app import create_app
from tagger_app.state import tagger
from tagger_app.store import annotators


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("tagger.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    add_task_argument(p)
    p.add_argument("--version", type=int, help="data-set version to serve (default: the latest)")
    p.add_argument("--threads", type=int, default=8, help="waitress worker threads per process (default 8)")
    p.add_argument("--processes", type=int, default=1, help="server processes sharing the socket (default 1)")
    args = p.parse_args(argv)
    if args.processes < 1 or args.threads < 1:
        p.error("--processes and --threads must be at least 1")
    from waitress import create_server

    # waitress warns "Task queue depth is N" on every request that waits for a worker thread:
    # under load that is a log line (and a stderr write) per request, telling nothing new.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = create_app({"TAGGER_TASK": args.task, "TAGGER_VERSION": args.version})
    with app.app_context():
        with tagger().engine.connect() as conn:  # connect (and migrate) before announcing the URL
            accounts = [a for a in annotators.list_all(conn) if a.active]
    server = create_server(app, host=args.host, port=args.port, threads=args.threads,
                           connection_limit=200, channel_timeout=60, ident="goldloop")
    url = f"http://{args.host}:{server.effective_port}/"
    info = {"url": url, "task": app.extensions["goldloop_tagger"].task.name,
            "annotators": len(accounts)}
    if args.json:
        cli.emit(info, True, str)
    else:
        print(f"goldloop tagger for task {info['task']}: {url}")
        if not accounts:
            print("no annotator accounts yet: create one with bin/annotator.sh add NAME", file=sys.stderr)
        print("Ctrl-C stops the server.")
    sys.stdout.flush()
    if args.processes > 1:
        return _run_forked(app, server, args.processes, args.threads)
    try:
        server.run()
    finally:
        server.close()
    return cli.EXIT_OK


def _run_forked(app: Flask, server, processes: int, threads: int) -> int:
    """Serve ``server``'s socket from ``processes`` forked children; stop them all when one ends
    or the parent is asked to stop. Returns the exit status."""
    from waitress import create_server

    sock = server.socket
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:  # child: own database connections, dies with the parent, never runs atexit hooks
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
            app.extensions["goldloop_tagger"].engine.dispose(close=False)
            db.get_engine().dispose(close=False)
            child = create_server(app, sockets=[sock], threads=threads, connection_limit=200, channel_timeout=60,
                                  ident="goldloop")
            try:
                child.run()
            finally:
                os._exit(0)
        children.append(pid)

    def _stop(signum: int, _frame) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _stop)
    try:
        os.wait()  # any child ending (a crash) stops the whole server
        return cli.EXIT_ERROR
    except (KeyboardInterrupt, SystemExit):
        return cli.EXIT_OK
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        server.close()


if __name__ == "__main__":
    cli.run(main)
