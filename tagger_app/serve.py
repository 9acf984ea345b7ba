"""``bin/tagger.sh``: serve the web tagger with waitress (production WSGI server).

Binds to 127.0.0.1 unless ``--host`` says otherwise and prints the URL to open.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from datasets import cli
from tagger_app import create_app
from tagger_app.state import tagger
from tagger_app.store import annotators


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("tagger.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--task", help="task file (default labeling/tasks/ai_tweets.toml)")
    p.add_argument("--version", type=int, help="data-set version to serve (default: the latest)")
    p.add_argument("--threads", type=int, default=8, help="waitress worker threads (default 8)")
    args = p.parse_args(argv)
    from waitress import create_server

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
    try:
        server.run()
    finally:
        server.close()
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
