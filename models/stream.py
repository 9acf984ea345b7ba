"""``bin/stream.sh``: classify new posts as they arrive, with the task's production model.

A long-running worker. Every post inserted into ``raw_posts`` while the task's stream is
registered (the worker registers it when it starts), by ``bin/ingest.sh``, a collector or the
drop directory this worker watches (``--drop-dir``), is queued in the task's inbox by a trigger
(sql/019). The worker takes batches from the inbox and stores each batch's predictions (source
``production``, ``run_ref`` = the model's run id) and links in the transaction that removes the
batch from the inbox: SIGKILL at any moment loses nothing and classifies nothing twice after a
restart. It wakes on PostgreSQL notifications and polls every ``--poll`` seconds as well, and
loads the new production model when ``bin/model.sh`` promotes or rolls back one.
SIGTERM or Ctrl-C stops it after the batch in hand.

Posts stored before the stream was first registered are not queued: classify them with
``bin/classify.sh``. ``--unregister`` stops queueing posts for the task (and drops its queue),
so the inbox cannot grow for a stream no longer used.

``--engine spark`` runs the drop directory as a Spark Structured Streaming query instead
(``models/stream_spark.py``): each micro-batch's files are ingested and classified by Spark
tasks, each file in one transaction with the record of its micro-batch, exactly once across a
killed driver thanks to the query's ``--checkpoint``. It classifies the dropped files only.
"""
from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from tqdm import tqdm

from datasets import cli, spark, workspace
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import db, sql, stream
from labeling.task import Task, add_task_argument, load_task
from models.classify import store_predictions
from models.production import ProductionModel, load_production, production_event_id
from models.sources import DropDirectory, PostSource, Pulled


@dataclass(frozen=True, slots=True)
class StreamResult(StepResult):
    """What one worker did before it stopped (its ``--json`` output): posts ``classified`` and
    by which ``runs``; ``files``, ``inserted`` and ``rejected`` from its drop directory;
    ``failed`` files that could not be read; ``pending`` posts left in the inbox."""

    task: str
    runs: tuple[int, ...]
    classified: int
    files: int
    failed: int
    inserted: int
    rejected: int
    pending: int
    seconds: float
    posts_per_s: float | None


@dataclass(frozen=True, slots=True)
class Unregistered(StepResult):
    """``bin/stream.sh --unregister``: the task whose posts are no longer queued, and how many
    waiting posts were dropped from its inbox."""

    task: str
    dropped: int


class Worker:
    """The stream of one task: its model, its sources and what it has done so far."""

    def __init__(self, engine: Engine, task: Task, sources: Sequence[PostSource], batch_size: int = 1000,
                 reload_check_s: float = 1.0):
        self.engine, self.task, self.sources, self.batch_size = engine, task, sources, batch_size
        self.reload_check_s = reload_check_s
        self.model: ProductionModel = load_production(engine, task)
        self.runs: list[int] = [self.model.run_id]
        self._checked = time.monotonic()
        self.classified = 0
        self.pulled = Pulled()
        self.stopping = False

    def pull(self) -> int:
        """Poll every source once; returns the files (or messages) handled, read or failed."""
        handled = 0
        for source in self.sources:
            got = source.pull()
            self.pulled += got
            handled += got.files + got.failed
        return handled

    def refresh_model(self) -> None:
        """Load the production model again when the registry has a newer event (checked at most
        every ``reload_check_s``)."""
        if time.monotonic() - self._checked < self.reload_check_s:
            return
        self._checked = time.monotonic()
        if production_event_id(self.engine, self.task) != self.model.event_id:
            self.model = load_production(self.engine, self.task)
            if self.model.run_id not in self.runs:
                self.runs.append(self.model.run_id)

    def classify_batch(self) -> int:
        """Classify one batch from the inbox and store it, in one transaction; returns its size."""
        with sql.transaction(self.engine) as conn:
            done = store_predictions(conn, self.model, stream.take(conn, self.task.name, self.batch_size))
        self.classified += done
        return done

    def run(self, *, poll_s: float, once: bool, bar: tqdm) -> None:
        """Work until :attr:`stopping` is set (or, with ``once``, until nothing is left)."""
        listener = stream.Listener(self.engine)
        try:
            while not self.stopping:
                files = self.pull()
                self.refresh_model()
                done = self.classify_batch()
                bar.update(done)
                if done or files:
                    continue
                if once:
                    return
                listener.wait(poll_s)
        finally:
            listener.close()


def _human(r: StreamResult) -> str:
    rate = f" ({r.posts_per_s:,.0f} posts/s)" if r.posts_per_s else ""
    return (f"stream of task {r.task}: {r.classified:,} posts classified by run(s) "
            f"{', '.join(map(str, r.runs))} in {r.seconds:.1f} s{rate}; {r.files} file(s) ingested "
            f"({r.inserted:,} posts, {r.rejected:,} rejected, {r.failed} unreadable); {r.pending:,} waiting")


def _checkpoint(args: argparse.Namespace, task: Task) -> Path:
    """The Spark query's checkpoint directory: ``--checkpoint``, else one per task in the workspace."""
    checkpoint = args.checkpoint or workspace.home() / "streams" / task.name / "checkpoint"
    if checkpoint.exists() and not checkpoint.is_dir():
        raise GoldloopError(f"--checkpoint {checkpoint}: not a directory")
    return checkpoint


def _check_engine_options(args: argparse.Namespace, master: str | None) -> None:
    """Refuse the options of one engine given to the other, naming them."""
    if master is None:
        for option, value in (("--checkpoint", args.checkpoint), ("--max-files", args.max_files)):
            if value is not None:
                raise GoldloopError(f"{option} needs --engine spark")
        return
    if args.drop_dir is None:
        raise GoldloopError("--engine spark streams a drop directory: give --drop-dir DIR")
    for option, value in (("--batch-size", args.batch_size), ("--settle", args.settle)):
        if value is not None:
            raise GoldloopError(f"{option} is for the default engine (with --engine spark each dropped file is one "
                                "transaction, and files must be renamed into place whole)")
    if args.max_files is not None and args.max_files < 1:
        raise GoldloopError(f"--max-files must be at least 1, got {args.max_files}")


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/stream.sh", __doc__.split("\n\n", 1)[0].split(": ", 1)[1] + "\n\n"
                   "exit status: 0 stopped (SIGTERM, Ctrl-C or --once done), 1 error", progress=True)
    add_task_argument(p)
    p.add_argument("--drop-dir", type=Path, help="directory to watch for files to ingest and classify")
    p.add_argument("--batch-size", type=int, help="posts per transaction (default 1000)")
    p.add_argument("--poll", type=float, default=0.25,
                   help="seconds between looks at the drop directory and the inbox when idle; with --engine spark "
                        "the micro-batch interval (default 0.25)")
    p.add_argument("--settle", type=float,
                   help="seconds a dropped file must be left unmodified before it is read (default 0.2)")
    p.add_argument("--once", action="store_true", help="classify what is there, then stop")
    p.add_argument("--unregister", action="store_true",
                   help="stop queueing new posts for the task, drop its queue, and exit")
    spark.add_engine_arguments(p)
    p.add_argument("--checkpoint", type=Path, metavar="DIR",
                   help="--engine spark: the query's checkpoint directory, one per drop directory "
                        "(default $GOLDLOOP_HOME/streams/<task>/checkpoint)")
    p.add_argument("--max-files", type=int, metavar="N",
                   help="--engine spark: new files per micro-batch (default 16)")
    args = p.parse_args(argv)
    master = spark.engine_of(args)
    _check_engine_options(args, master)
    batch_size = 1000 if args.batch_size is None else args.batch_size
    settle = 0.2 if args.settle is None else args.settle
    if batch_size < 1:
        raise GoldloopError(f"--batch-size must be at least 1, got {batch_size}")
    if not 0 < args.poll <= 3600:
        raise GoldloopError(f"--poll must be more than 0 and at most 3600 seconds, got {args.poll}")
    if not 0 <= settle <= 3600:
        raise GoldloopError(f"--settle must be between 0 and 3600 seconds, got {settle}")
    task = load_task(args.task)
    engine = db.get_engine()
    if args.unregister:
        with sql.transaction(engine) as conn:
            done = Unregistered(task=task.name, dropped=stream.unregister(conn, task.name))
        cli.emit(done, args.json, lambda r: f"stream of task {r.task} unregistered; {r.dropped:,} waiting post(s) dropped")
        return cli.EXIT_OK
    if master is not None:
        from models.stream_spark import MAX_FILES, SparkStream

        worker = SparkStream(master, engine, task, args.drop_dir, _checkpoint(args, task), args.max_files or MAX_FILES)
    else:
        sources = [DropDirectory(args.drop_dir, settle)] if args.drop_dir else []
        worker = Worker(engine, task, sources, batch_size)  # no production model: an error, nothing registered
        with sql.transaction(engine) as conn:  # before the first pull: the files' posts are queued
            stream.register(conn, task.name)

    def stop(signum: int, frame: object) -> None:
        worker.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    started = time.perf_counter()
    with tqdm(desc=f"stream {task.name}", unit=" posts", file=sys.stderr, disable=True if args.quiet else None,
              mininterval=1.0) as bar:
        worker.run(poll_s=args.poll, once=args.once, bar=bar)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        waiting = stream.pending(conn, task.name)
    result = StreamResult(task=task.name, runs=tuple(worker.runs), classified=worker.classified,
                          files=worker.pulled.files, failed=worker.pulled.failed, inserted=worker.pulled.inserted,
                          rejected=worker.pulled.rejected,
                          pending=waiting, seconds=round(seconds, 3),
                          posts_per_s=round(worker.classified / seconds, 1) if seconds > 0.01 else None)
    cli.emit(result, args.json, _human)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
