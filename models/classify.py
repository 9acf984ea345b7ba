"""``bin/classify.sh``: classify posts with the task's production model, in bulk, resumably.

Two kinds of input:

* posts already stored, chosen by ``--version`` (and ``--split``) or ``--since``: their
  predictions (source ``production``, ``run_ref`` = the model's run id) and links are stored
  batch by batch, one transaction each. A re-run skips the posts the same run already
  predicted, so an interrupted run resumes where it stopped and a finished one does nothing;
* files (``PATH...``: Twitter JSON, JSON lines, CSV, parquet, as ``bin/ingest.sh`` reads them;
  nothing is stored) classified into ``--out`` (.parquet, .csv or .jsonl) with the label,
  its confidence and one probability column per label. The output is built in parts of
  ``--batch-size`` posts under ``OUT.parts/``, each written whole; a re-run with the same
  inputs and model skips the parts already written, and the last step joins them into
  ``--out`` and removes the parts. Records that cannot be read go to the rejects file.

``--run RUN`` classifies with that train run instead of the production model.
``--engine spark [--master URL]`` does the same work as Spark tasks (docs/scale.md), with the
same predictions, links, output file and rejects: the version's parquet splits (or, for
``--since``, id ranges of the stored posts) and the input files' parts are shared out among
the tasks, each loading the model once per Python worker; only counts reach the driver.
exit status: 0 ok, 1 error, 2 some records rejected, 130 interrupted (resume by re-running).
"""
from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.engine import Connection, Engine
from tqdm import tqdm

from datasets import cli, jsonout, readers, records, spark, tables, workspace
from datasets.errors import GoldloopError
from datasets.ingest import RejectsFile
from datasets.results import StepResult
from datasets.store import db, predictions, sql, urls, versions
from datasets.store.versions import SPLITS
from datasets.url_report import parse_since
from labeling.task import Task, add_task_argument, load_task
from models.production import ProductionModel, load_production, load_run

SOURCE = "production"  # the predictions' source name (the stream writes the same)
MANIFEST = "manifest.json"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClassifyResult(StepResult):
    """One ``bin/classify.sh`` run (its ``--json`` output): ``classified`` posts by ``run_id``,
    ``skipped`` ones already done by an earlier, interrupted run; for files, the ``out`` file
    and ``rejected`` records (listed in ``rejects_file``)."""

    task: str
    run_id: int
    classified: int
    skipped: int
    out: str | None
    rejected: int
    rejects_file: str | None


def store_predictions(conn: Connection, model: ProductionModel, rows: Sequence[Any]) -> int:
    """Classify stored posts ``rows`` (``id``, ``text``, ``created_at``, ``urls``,
    ``media_urls``) and store their predictions and links in the caller's transaction."""
    if not rows:
        return 0
    probs = model.predict_proba([row.text for row in rows])
    predictions.upsert(conn, task=model.task.name, source=SOURCE, version=None, run_ref=str(model.run_id),
                       labels=model.labels, ids=[row.id for row in rows], probs=probs)
    urls.add_post_links(conn, [(row.id, row.created_at, row.urls, row.media_urls) for row in rows])
    return len(rows)


def classify_store(engine: Engine, model: ProductionModel, *, version: int | None, split: str | None, since: Any,
                   batch_size: int, progress: bool, master: str | None = None) -> ClassifyResult:
    """Classify the stored posts in scope that ``model`` has not predicted yet (by Spark tasks
    on ``master`` when given, :mod:`models.classify_spark`)."""
    scope = store_scope(model, version=version, split=split, since=since)
    if master is not None:
        from models import classify_spark

        classified, skipped = classify_spark.classify_store(master, engine, model, scope, batch_size, progress)
        return ClassifyResult(task=model.task.name, run_id=model.run_id, classified=classified, skipped=skipped,
                              out=None, rejected=0, rejects_file=None)
    todo, done_before = scope_counts(engine, scope)
    classified, after = 0, ""
    with tqdm(total=todo, desc="classify", unit=" posts", file=sys.stderr, disable=None if progress else True) as bar:
        while True:
            with sql.transaction(engine) as conn:
                rows = predictions.unpredicted_posts(conn, **scope, after=after, limit=batch_size)
                if not rows:
                    break
                classified += store_predictions(conn, model, rows)
            after = rows[-1].id
            bar.update(len(rows))
    return ClassifyResult(task=model.task.name, run_id=model.run_id, classified=classified, skipped=done_before,
                          out=None, rejected=0, rejects_file=None)


def store_scope(model: ProductionModel, *, version: int | None, split: str | None, since: Any) -> dict[str, Any]:
    """The arguments of the store's queries for the posts in scope and the predictions of ``model``."""
    return {"task": model.task.name, "source": SOURCE, "run_ref": str(model.run_id), "version": version,
            "split": split, "since": since}


def scope_counts(engine: Engine, scope: dict[str, Any]) -> tuple[int, int]:
    """Posts in ``scope`` still to classify, and those the run already predicted."""
    with engine.connect() as conn:
        todo = predictions.count_unpredicted(conn, **scope)
        done_before = predictions.count_unpredicted(conn, **{**scope, "run_ref": ""}) - todo
    return todo, done_before


class Inputs:
    """The posts of the input files, in order, with rejected records written to ``rejects``."""

    def __init__(self, sources: Sequence[readers.Source], columns: records.Columns, rejects: RejectsFile):
        self.sources, self.columns, self.rejects = sources, columns, rejects
        self.rejected = 0

    @classmethod
    def open(cls, paths: Sequence[Path], columns: records.Columns, rejects: RejectsFile) -> Inputs:
        """The files ``paths``, checked; CSV and parquet files must have the id and text columns
        (JSON may hold Twitter objects)."""
        return cls([readers.open_source(p, "auto", "utf-8", (columns.id, columns.text)) for p in paths], columns,
                   rejects)

    def fingerprint(self) -> list[dict[str, Any]]:
        """What identifies the inputs of a run (a resumed run must read the same ones)."""
        return [{"path": str(s.path.resolve()), "size": s.size, "mtime_ns": s.path.stat().st_mtime_ns}
                for s in self.sources]

    def posts(self) -> Iterator[records.Post]:
        for source in self.sources:
            yield from self.read(source)

    def read(self, source: readers.Source, part: readers.Part | None = None) -> Iterator[records.Post]:
        """The posts of ``source`` (of ``part`` of it: a Spark task's share)."""
        for line, item in source.records(part):
            if isinstance(item, readers.Bad):
                self._reject(source, line, item.reason, item.snippet)
                continue
            for post in records.posts(item.obj, item.raw, self.columns, "auto"):
                if isinstance(post, records.RecordError):
                    self._reject(source, line, str(post), (item.raw or jsonout.dumps(item.obj, ensure_ascii=False))[:200])
                else:
                    yield post

    def _reject(self, source: readers.Source, line: int, reason: str, snippet: str) -> None:
        self.rejected += 1
        self.rejects.add(str(source.path), line, reason, snippet)


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _rows(model: ProductionModel, chunk: list[records.Post]) -> list[dict[str, Any]]:
    probs = np.round(model.predict_proba([p.text for p in chunk]).astype("float64"), predictions.DECIMALS)
    best = probs.argmax(axis=1)
    return [{"id": p.id, "text": p.text, "label": model.labels[b], "confidence": float(row[b]),
             **{f"p_{label}": float(v) for label, v in zip(model.labels, row)}}
            for p, b, row in zip(chunk, best.tolist(), probs)]


def _parts_dir(out: Path, manifest: dict[str, Any], restart: bool) -> Path:
    """``OUT.parts/`` for this run: kept when it was started with the same inputs and model."""
    parts = out.with_name(out.name + ".parts")
    if parts.exists() and restart:
        shutil.rmtree(parts)
    if parts.exists():
        try:
            previous = json.loads((parts / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None
        if previous != manifest:
            raise GoldloopError(f"{parts} holds an interrupted run with other inputs, options or model; "
                                "re-run with --restart to start over")
    else:
        parts.mkdir()
        (parts / MANIFEST).write_text(jsonout.dumps(manifest, sort_keys=True), encoding="utf-8")
    return parts


def output_columns(model: ProductionModel) -> list[str]:
    """The columns of ``--out``: id, text, label, confidence and one probability per label."""
    return ["id", "text", "label", "confidence", *(f"p_{label}" for label in model.labels)]


def classify_files(model: ProductionModel, paths: Sequence[Path], out: Path, *, columns: records.Columns,
                   batch_size: int, restart: bool, rejects_path: Path, progress: bool,
                   master: str | None = None) -> ClassifyResult:
    """Classify the posts of ``paths`` into ``out`` (see the module docstring); by Spark tasks on
    ``master`` when given (:mod:`models.classify_spark`), into the same file."""
    rejects_path.unlink(missing_ok=True)  # every run reads every record again: its rejects are the run's
    rejects = RejectsFile(rejects_path)
    try:
        inputs = Inputs.open(paths, columns, rejects)
        manifest = {"inputs": inputs.fingerprint(), "run_id": model.run_id, "batch_size": batch_size,
                    "columns": [columns.id, columns.text, columns.time, columns.author]}
        if master is None:
            parts = _parts_dir(out, manifest, restart)
            classified, skipped = _classify_here(model, inputs, parts, batch_size, progress)
            rejected = inputs.rejected
        else:
            from models import classify_spark

            # Spark's parts are cut differently: a run on the other engine does not resume them
            parts = _parts_dir(out, {**manifest, "engine": "spark", "part_bytes": classify_spark.PART_BYTES},
                               restart)
            classified, skipped, rejected = classify_spark.classify_files(master, model, inputs, parts, batch_size,
                                                                          progress)
    finally:
        rejects.close()
    _join(sorted(parts.glob("part-*.parquet")), out, output_columns(model))
    shutil.rmtree(parts)
    return ClassifyResult(task=model.task.name, run_id=model.run_id, classified=classified, skipped=skipped,
                          out=str(out), rejected=rejected, rejects_file=str(rejects_path) if rejects.used else None)


def _classify_here(model: ProductionModel, inputs: Inputs, parts: Path, batch_size: int,
                   progress: bool) -> tuple[int, int]:
    """The default engine: the posts in order, one part per batch; returns (classified, skipped)."""
    classified = skipped = 0
    with tqdm(desc="classify", unit=" posts", file=sys.stderr, disable=None if progress else True) as bar:
        for n, chunk in enumerate(chunks(inputs.posts(), batch_size)):
            part = parts / f"part-{n:06d}.parquet"
            if part.exists():
                skipped += len(chunk)
            else:
                tables.write(_rows(model, chunk), part, output_columns(model))
                classified += len(chunk)
            bar.update(len(chunk))
    return classified, skipped


def _join(parts: list[Path], out: Path, columns: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if tables.format_of(out) == "parquet":
        tmp = out.with_name(f".{out.name}.tmp")
        schema = pa.schema([(c, pa.string() if c in ("id", "text", "label") else pa.float64()) for c in columns])
        with pq.ParquetWriter(tmp, schema) as writer:
            for part in parts:
                writer.write_table(pq.read_table(part).select(columns).cast(schema))
        tmp.replace(out)
    else:
        tables.write([row for part in parts for row in pq.read_table(part).to_pylist()], out, columns)


def _human(r: ClassifyResult) -> str:
    where = f" -> {r.out}" if r.out else " (predictions stored, source production)"
    lines = [f"{r.classified:,} posts classified by run {r.run_id} of task {r.task}"
             + (f", {r.skipped:,} already done" if r.skipped else "") + where]
    if r.rejected:
        lines.append(f"{r.rejected:,} records rejected (file, line, reason): {r.rejects_file}")
    return "\n".join(lines)


def _model(engine: Engine, task: Task, run: int | None) -> ProductionModel:
    return load_run(engine, task, run) if run is not None else load_production(engine, task)


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/classify.sh", __doc__.split("\n\n", 1)[0].split(": ", 1)[1] + "\n\n"
                   + __doc__.split("\n\n", 1)[1], progress=True)
    add_task_argument(p)
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files to classify (with --out)")
    p.add_argument("--out", type=Path, help="output file for PATHs: .parquet, .csv or .jsonl")
    p.add_argument("--version", type=int, help="classify the stored posts of this data-set version")
    p.add_argument("--split", choices=SPLITS, help="with --version: only this split")
    p.add_argument("--since", help="classify the stored posts posted since then: an age (7d, 12h) or an ISO date")
    p.add_argument("--run", type=int, help="classify with this train run instead of the production model")
    p.add_argument("--batch-size", type=int, default=5000, help="posts per transaction or output part (default 5000)")
    p.add_argument("--restart", action="store_true", help="files: discard the parts of an interrupted run")
    p.add_argument("--id-column", default="id", help="id field of generic records (default: id)")
    p.add_argument("--text-column", default="text", help="text field of generic records (default: text)")
    p.add_argument("--rejects", type=Path, help="rejects file (default: $GOLDLOOP_HOME/rejects/classify-<out>.jsonl)")
    spark.add_engine_arguments(p)
    args = p.parse_args(argv)
    master = spark.engine_of(args)
    if args.batch_size < 1:
        raise GoldloopError(f"--batch-size must be at least 1, got {args.batch_size}")
    stored_scope = args.version is not None or args.since is not None
    if args.paths and stored_scope:
        raise GoldloopError("give either PATHs (with --out) or --version/--since (stored posts), not both")
    if not args.paths and not stored_scope:
        raise GoldloopError("nothing to classify: give PATHs with --out, or --version (and --split) or --since")
    if args.split and args.version is None:
        raise GoldloopError("--split needs --version")
    if args.paths and args.out is None:
        raise GoldloopError("--out FILE (.parquet, .csv or .jsonl) is needed to classify files")
    if args.out is not None:
        if not args.paths:
            raise GoldloopError("--out is for files (PATHs); stored posts get their predictions in the database")
        tables.format_of(args.out)
    since = parse_since(args.since) if args.since else None
    task = load_task(args.task)
    engine = db.get_engine()
    if args.version is not None:
        with engine.connect() as conn:
            versions.resolve(conn, args.version)
    if args.paths:
        columns = records.Columns(id=args.id_column, text=args.text_column, time="created_at", author="author",
                                  time_format=None)
        rejects = args.rejects or workspace.home() / "rejects" / f"classify-{args.out.name}.jsonl"
        model = _model(engine, task, args.run)
        result = classify_files(model, args.paths, args.out, columns=columns, batch_size=args.batch_size,
                                restart=args.restart, rejects_path=rejects, progress=not args.quiet, master=master)
    else:
        model = _model(engine, task, args.run)
        result = classify_store(engine, model, version=args.version, split=args.split, since=since,
                                batch_size=args.batch_size, progress=not args.quiet, master=master)
    cli.emit(result, args.json, _human)
    return cli.EXIT_PARTIAL if result.rejected else cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
