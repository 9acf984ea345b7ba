"""``bin/serve.sh``: serve the predict API of a task's production model with granian.

Binds to 127.0.0.1 unless ``--host`` says otherwise and prints the URL once the server answers.
The task file is read and the database migrated before any worker starts; each of the
``--workers`` forked processes then loads the production model itself (TensorFlow must not
cross a fork), with one TensorFlow thread per worker so workers do not fight over the cores,
and follows the registry: a promotion or rollback is served within about a second, without a
failed request (models/serving/holder.py).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from flask import Flask

from datasets import cli
from datasets.http_server import announce_when_ready, free_port, serve
from datasets.results import StepResult
from datasets.store import db
from labeling.task import add_task_argument
from models.serving import create_app
from models.serving.inputs import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_TEXT_CHARS, DEFAULT_MAX_TEXTS, Limits

DEFAULT_WORKERS = min(os.cpu_count() or 1, 4)  # one per core: prediction is CPU work
DEFAULT_THREADS = 4  # per worker: requests wait for the model (TensorFlow releases the GIL) and for PostgreSQL


@dataclass(frozen=True, slots=True)
class ServeReady(StepResult):
    """What ``--json`` announces once the server answers."""

    url: str
    task: str
    workers: int
    limits: dict[str, int]


def _start_worker(app: Flask) -> None:
    """In each worker after the fork: one TensorFlow thread, then load and follow the model."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    app.extensions["goldloop_predict"].start()


def _positive(p, args, names: Sequence[str]) -> None:
    for name in names:
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/serve.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    add_task_argument(p)
    p.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                   help=f"worker processes, each with its own copy of the model (default {DEFAULT_WORKERS})")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"request threads per worker (default {DEFAULT_THREADS})")
    p.add_argument("--max-texts", type=int, default=DEFAULT_MAX_TEXTS,
                   help=f"texts per request; more is refused with 413 (default {DEFAULT_MAX_TEXTS})")
    p.add_argument("--max-text-chars", type=int, default=DEFAULT_MAX_TEXT_CHARS,
                   help=f"characters per text; longer is refused with 422 (default {DEFAULT_MAX_TEXT_CHARS})")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY_BYTES,
                   help=f"request body size; larger is refused with 413 (default {DEFAULT_MAX_BODY_BYTES})")
    args = p.parse_args(argv)
    _positive(p, args, ("workers", "threads", "max_texts", "max_text_chars", "max_body_bytes"))
    limits = Limits(args.max_texts, args.max_text_chars, args.max_body_bytes)
    app = create_app({"PREDICT_TASK": args.task, "PREDICT_LIMITS": limits})
    with db.get_engine().connect():  # connect (and migrate) before announcing the URL
        pass
    port = args.port or free_port(args.host)
    holder = app.extensions["goldloop_predict"]
    info = ServeReady(url=f"http://{args.host}:{port}/", task=holder.task.name, workers=args.workers,
                      limits={"max_texts": limits.max_texts, "max_text_chars": limits.max_text_chars,
                              "max_body_bytes": limits.max_body_bytes})

    def announce() -> None:
        if args.json:
            cli.emit(info, True, str)
        else:
            print(f"goldloop predict API for task {info.task}: {info.url}v1/predict (ready when {info.url}readyz is 200)")
            print("Ctrl-C stops the server.")
        sys.stdout.flush()

    announce_when_ready(args.host, port, announce)
    return serve(app, args.host, port, args.workers, args.threads, on_worker=_start_worker)


if __name__ == "__main__":
    cli.run(main)
