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
exit status: 0 ok, 1 error, 2 some records rejected, 130 interrupted (resume by re-running).
"""
from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Connection, Engine
from tqdm import tqdm

from datasets import cli, jsonout, readers, records, tables, workspace
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
                   batch_size: int, progress: bool) -> ClassifyResult:
    """Classify the stored posts in scope that ``model`` has not predicted yet."""
    scope = {"task": model.task.name, "source": SOURCE, "run_ref": str(model.run_id), "version": version,
             "split": split, "since": since}
    with engine.connect() as conn:
        todo = predictions.count_unpredicted(conn, **scope)
        done_before = predictions.count_unpredicted(conn, **{**scope, "run_ref": ""}) - todo
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


class _Inputs:
    """The posts of the input files, in order, with rejected records written to ``rejects``."""

    def __init__(self, paths: Sequence[Path], columns: records.Columns, rejects: RejectsFile):
        # CSV and parquet files must have the id and text columns (JSON may hold Twitter objects)
        self.sources = [readers.open_source(p, "auto", "utf-8", (columns.id, columns.text)) for p in paths]
        self.columns, self.rejects = columns, rejects
        self.rejected = 0

    def fingerprint(self) -> list[dict[str, Any]]:
        """What identifies the inputs of a run (a resumed run must read the same ones)."""
        return [{"path": str(s.path.resolve()), "size": s.size, "mtime_ns": s.path.stat().st_mtime_ns}
                for s in self.sources]

    def posts(self) -> Iterator[records.Post]:
        for source in self.sources:
            for line, item in source.records():
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


def _chunks(posts: Iterator[records.Post], size: int) -> Iterator[list[records.Post]]:
    chunk: list[records.Post] = []
    for post in posts:
        chunk.append(post)
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


def classify_files(model: ProductionModel, paths: Sequence[Path], out: Path, *, columns: records.Columns,
                   batch_size: int, restart: bool, rejects_path: Path, progress: bool) -> ClassifyResult:
    """Classify the posts of ``paths`` into ``out`` (see the module docstring)."""
    fmt_columns = ["id", "text", "label", "confidence", *(f"p_{label}" for label in model.labels)]
    rejects_path.unlink(missing_ok=True)  # every run reads every record again: its rejects are the run's
    rejects = RejectsFile(rejects_path)
    inputs = _Inputs(paths, columns, rejects)
    manifest = {"inputs": inputs.fingerprint(), "run_id": model.run_id, "batch_size": batch_size,
                "columns": [columns.id, columns.text, columns.time, columns.author]}
    parts = _parts_dir(out, manifest, restart)
    classified = skipped = 0
    try:
        with tqdm(desc="classify", unit=" posts", file=sys.stderr, disable=None if progress else True) as bar:
            for n, chunk in enumerate(_chunks(inputs.posts(), batch_size)):
                part = parts / f"part-{n:06d}.parquet"
                if part.exists():
                    skipped += len(chunk)
                else:
                    tables.write(_rows(model, chunk), part, fmt_columns)
                    classified += len(chunk)
                bar.update(len(chunk))
    finally:
        rejects.close()
    _join(sorted(parts.glob("part-*.parquet")), out, fmt_columns)
    shutil.rmtree(parts)
    return ClassifyResult(task=model.task.name, run_id=model.run_id, classified=classified, skipped=skipped,
                          out=str(out), rejected=inputs.rejected, rejects_file=str(rejects_path) if rejects.used else None)


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
    args = p.parse_args(argv)
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
                                restart=args.restart, rejects_path=rejects, progress=not args.quiet)
    else:
        model = _model(engine, task, args.run)
        result = classify_store(engine, model, version=args.version, split=args.split, since=since,
                                batch_size=args.batch_size, progress=not args.quiet)
    cli.emit(result, args.json, _human)
    return cli.EXIT_PARTIAL if result.rejected else cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
