"""``bin/ingest.sh PATH...``: load raw posts into PostgreSQL (``raw_posts``), fast and safely.

Every file is checked first (exists, readable, known format, required columns), so a bad path
fails before anything is written. Records are then streamed in batches of ``--batch-size``;
each batch is one transaction (see :class:`datasets.store.posts.IngestBatch`), ids already
stored are skipped, and every record that cannot be stored is written to the rejects file
(JSON lines with ``file``, ``line``, ``reason``, ``snippet``) while the good ones carry on.
Exit status: 0 all stored, 2 some records rejected, 1 error, 130 interrupted (whole batches
stay committed; re-running completes the load).
"""
from __future__ import annotations

import json
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from datasets import cli, readers, records, spark, timestamps, workspace
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import db, posts

# A post's text fields: the ones whose unencodable characters reject it.
_TEXT_FIELDS = ("id", "text", "lang", "author", "author_id", "source_app", "retweeted_id",
                "hashtags", "mentions", "urls", "media_urls")

# --format value -> (reader format, record kind)
FORMATS = {"auto": ("auto", "auto"), "twitter": ("json", "twitter"), "jsonl": ("json", "generic"),
           "json": ("json", "generic"), "csv": ("csv", "generic"), "parquet": ("parquet", "generic")}


@dataclass(frozen=True, slots=True)
class IngestCounts(StepResult):
    """What a load did to ``raw_posts``: the part of an ingestion the main job reports.

    ``rejects_file`` is None when nothing was rejected (the file is created on the first reject).
    """

    read: int
    inserted: int
    duplicates: int
    rejected: int
    rejects_file: str | None


@dataclass(frozen=True, slots=True)
class IngestResult(IngestCounts):
    """One ``bin/ingest.sh`` run (its ``--json`` output, docs/ingest.md): the counts, plus what
    to look at afterwards.

    ``time_warnings`` counts posts stored with a NULL time because theirs could not be read, and
    ``time_warning_example`` is the first (``file``, ``line``, ``warning``), so the user can see
    which ``--time-format`` would read them; ``batch_id`` names the ``ingest_batches`` row;
    ``rows_per_s`` is None for a run too short to time.
    """

    time_warnings: int
    time_warning_example: dict[str, Any] | None
    batch_id: int
    files: tuple[str, ...]
    seconds: float
    rows_per_s: float | None

    def counts(self) -> IngestCounts:
        """The counts alone, without the run's details."""
        return IngestCounts(self.read, self.inserted, self.duplicates, self.rejected, self.rejects_file)


class RejectsFile:
    """The rejects file, created on the first rejected record."""

    def __init__(self, path: Path):
        self.path = path
        self._file: TextIO | None = None

    def add(self, source: str, line: int, reason: str, snippet: str, post_id: str | None = None) -> None:
        """Append one rejected record."""
        entry = {"file": source, "line": line, "reason": reason, "snippet": snippet}
        if post_id is not None:
            entry["id"] = post_id
        self._open().write(json.dumps(entry, ensure_ascii=False) + "\n")

    def extend(self, path: Path) -> None:
        """Append the rejects another rejects file holds (a Spark task's part)."""
        with open(path, encoding="utf-8", errors="backslashreplace") as part:
            for line in part:
                self._open().write(line)

    def _open(self) -> TextIO:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", encoding="utf-8", errors="backslashreplace")
        return self._file

    def flush(self) -> None:
        """Push what was written to disk (done after each committed batch)."""
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        """Close the file if it was created."""
        if self._file is not None:
            self._file.close()

    @property
    def used(self) -> bool:
        """Whether anything was rejected (the file exists)."""
        return self._file is not None


@dataclass(frozen=True, slots=True)
class LoadTotals:
    """What loading some records did: the counts, and the posts stored without their time (the
    first one as an example). Totals of parts loaded apart add up (``+``; the first example wins)."""

    read: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    time_warnings: int = 0
    time_warning_example: dict[str, Any] | None = None

    def __add__(self, other: LoadTotals) -> LoadTotals:
        return LoadTotals(self.read + other.read, self.inserted + other.inserted,
                          self.duplicates + other.duplicates, self.rejected + other.rejected,
                          self.time_warnings + other.time_warnings,
                          self.time_warning_example or other.time_warning_example)


class Load:
    """The state of one ingestion run (or of one Spark task's part of it): pending rows, counts, progress.

    Batches are written by one background thread while the next batch is parsed (PostgreSQL
    and Python work at the same time); at most one batch is in flight.
    """

    def __init__(self, writer: posts.IngestBatch, rejects: RejectsFile, batch_size: int, bar: tqdm):
        self.writer, self.rejects, self.batch_size, self.bar = writer, rejects, batch_size, bar
        self.rows: list[posts.Staged] = []
        self.pending_read = self.pending_rejected = 0
        self.totals = {"read": 0, "inserted": 0, "duplicates": 0, "rejected": 0}
        self.time_warnings = 0
        self.time_warning_example: dict[str, Any] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-writer")
        self._in_flight: tuple[Future, int, int] | None = None

    def reject(self, source: str, line: int, reason: str, snippet: str) -> None:
        self.pending_read += 1
        self.pending_rejected += 1
        self.rejects.add(source, line, reason, snippet)

    def add(self, post: records.Post, source: str, line: int) -> None:
        if post.time_warning:
            self.warn_time(source, line, post.time_warning)
        try:
            staged = _stage(len(self.rows), post, source, line)
        except records.RecordError as exc:
            self.reject(source, line, str(exc), _snip(post.raw))
            return
        self.pending_read += 1
        self.rows.append(staged)
        if len(self.rows) >= self.batch_size:
            self.flush()

    def warn_time(self, source: str, line: int, message: str) -> None:
        """Count a post stored without its unreadable time; the first one is shown as an example."""
        self.time_warnings += 1
        if self.time_warning_example is None:
            self.time_warning_example = {"file": source, "line": line, "warning": message}

    def flush(self) -> None:
        """Hand the pending rows to the writer thread (after the previous batch is committed)."""
        self._collect()
        if self.rows or self.pending_read:
            future = self._executor.submit(self.writer.write, self.rows, self.pending_read, self.pending_rejected)
            self._in_flight = (future, self.pending_read, self.pending_rejected)
            self.rows, self.pending_read, self.pending_rejected = [], 0, 0

    def close(self, discard_errors: bool = False) -> None:
        """Wait for the batch in flight (it commits whole or not at all) and stop the thread.

        ``discard_errors`` is for the failure path, where an error is already on its way up.
        """
        try:
            self._collect()
        except Exception:
            if not discard_errors:
                raise
        finally:
            self._executor.shutdown(wait=True)

    @contextmanager
    def running(self) -> Iterator[Load]:
        """Read inside the block; at its end the last rows are written and waited for. On an
        error the batch in flight is waited for (it commits whole or not at all) and the error
        goes on up."""
        try:
            yield self
        except BaseException:
            self.close(discard_errors=True)
            raise
        self.flush()
        self.close()

    def result(self) -> LoadTotals:
        """The counts so far (all of them once :meth:`close` returned)."""
        return LoadTotals(**self.totals, time_warnings=self.time_warnings,
                          time_warning_example=self.time_warning_example)

    def _collect(self) -> None:
        if self._in_flight is None:
            return
        future, read, rejected = self._in_flight
        self._in_flight = None
        inserted, duplicates, refused = future.result()
        for item in refused:
            self.rejects.add(item.row.source_file, item.row.source_line, item.reason,
                             _snip(item.row.line.decode("utf-8")), item.row.id)
        self.rejects.flush()
        for key, value in (("read", read), ("inserted", inserted), ("duplicates", duplicates),
                           ("rejected", rejected + len(refused))):
            self.totals[key] += value
        self.bar.set_postfix(inserted=self.totals["inserted"], rejected=self.totals["rejected"], refresh=False)


def ingest_paths(paths: Sequence[Path], *, id_column: str | None = None, text_column: str | None = None,
                 time_column: str | None = None, author_column: str | None = None,
                 time_format: str | None = None, rejects_path: Path | None = None, batch_size: int = 5000,
                 progress: bool = True, fmt: str = "auto", encoding: str = "utf-8",
                 master: str | None = None, part_bytes: int | None = None) -> IngestResult:
    """Load posts from ``paths`` (files, directories, globs) into ``raw_posts``; return the run's
    counts (:class:`IngestResult`).

    Column names and ``time_format`` (a strptime format; None recognises the common formats,
    see :mod:`datasets.timestamps`) apply to generic records (JSON objects, CSV, parquet);
    Twitter objects are recognised by their shape. ``fmt`` is one of :data:`FORMATS`. Raises
    :class:`~datasets.errors.GoldloopError` before writing anything when a file is unusable.
    With a Spark ``master`` the files are read and loaded by Spark tasks in parts of about
    ``part_bytes`` (:mod:`datasets.ingest_spark`), with the same records, rejects and counts.
    """
    if fmt not in FORMATS:
        raise GoldloopError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    if batch_size < 1:
        raise GoldloopError(f"--batch-size must be at least 1, got {batch_size}")
    if not paths:
        raise GoldloopError("no input files given")
    reader_format, kind = FORMATS[fmt]
    columns = records.Columns(id=id_column or "id", text=text_column or "text",
                              time=time_column or "created_at", author=author_column or "author",
                              time_format=timestamps.check_format(time_format) if time_format else None)
    required = (columns.id, columns.text) + tuple(c for c in (time_column, author_column) if c)
    sources = [readers.open_source(p, reader_format, encoding, required) for p in readers.expand(paths)]
    options = {"format": fmt, "encoding": encoding, "batch_size": batch_size,
               "columns": {"id": columns.id, "text": columns.text, "time": columns.time, "author": columns.author},
               "time_format": columns.time_format}
    writer = posts.IngestBatch(db.get_engine(), [str(p) for p in paths], options)
    rejects = RejectsFile(Path(rejects_path) if rejects_path else
                          workspace.home() / "rejects" / f"ingest-{writer.batch_id}.jsonl")
    started = time.perf_counter()
    status = "failed"
    try:
        if master is None:
            totals = _load_here(sources, writer, rejects, batch_size, columns, kind, progress)
        else:
            from datasets import ingest_spark

            totals = ingest_spark.load(master, sources, writer.batch_id, rejects, batch_size, columns, kind,
                                       progress, part_bytes or ingest_spark.PART_BYTES)
        status = "done"
    finally:
        try:
            writer.finish(status)
        finally:
            rejects.close()
    seconds = time.perf_counter() - started
    return IngestResult(totals.read, totals.inserted, totals.duplicates, totals.rejected,
                        rejects_file=str(rejects.path) if rejects.used else None,
                        time_warnings=totals.time_warnings, time_warning_example=totals.time_warning_example,
                        batch_id=writer.batch_id, files=tuple(str(s.path) for s in sources),
                        seconds=round(seconds, 3), rows_per_s=round(totals.read / seconds, 1) if seconds else None)


def _load_here(sources: Sequence[readers.Source], writer: posts.IngestBatch, rejects: RejectsFile, batch_size: int,
               columns: records.Columns, kind: str, progress: bool) -> LoadTotals:
    """The default engine: read the files one after the other in this process, one batch being
    written while the next is parsed."""
    bar = tqdm(total=sum(s.size for s in sources), unit="B", unit_scale=True, desc="ingest", file=sys.stderr,
               disable=None if progress else True, mininterval=0.5)
    load = Load(writer, rejects, batch_size, bar)
    try:
        with load.running():
            for source in sources:
                read_source(source, load, columns, kind)
    finally:
        bar.close()
    return load.result()


def read_source(source: readers.Source, load: Load, columns: records.Columns, kind: str,
                part: readers.Part | None = None) -> None:
    """Read ``source`` (``part`` of it) into ``load``: records become posts, the others rejects."""
    name = str(source.path)
    done = 0
    for count, (line, item) in enumerate(source.records(part), start=1):
        if isinstance(item, readers.Bad):
            load.reject(name, line, item.reason, item.snippet)
            continue
        for post in records.posts(item.obj, item.raw, columns, kind):
            if isinstance(post, records.RecordError):
                load.reject(name, line, str(post), _snip(item.raw if item.raw is not None else _as_text(item.obj)))
            else:
                load.add(post, name, line)
        if count % 2048 == 0:
            position = source.position()
            load.bar.update(position - done)
            done = position
    load.bar.update((source.size if part is None else 0) - done)


def _stage(seq: int, post: records.Post, source_file: str, source_line: int) -> posts.Staged:
    """The staging row of one post (``seq`` orders duplicates in a batch).

    Raises :class:`RecordError` naming the field when one of ``_TEXT_FIELDS`` holds text UTF-8
    cannot encode (lone surrogates from undecodable input), so that post alone is rejected. In
    ``raw`` (the original record, kept for reference) and the file name such characters become
    U+FFFD instead.
    """
    try:
        return posts.staged(seq, post, source_file, source_line)
    except UnicodeEncodeError:
        for name in _TEXT_FIELDS:
            value = getattr(post, name)
            if any(_unencodable(v) for v in (value if isinstance(value, list) else [value])):
                raise records.RecordError(f"invalid Unicode in {name} (undecodable bytes or a lone surrogate)") from None
        post = post._replace(raw=records.replace_surrogates(post.raw))
        return posts.staged(seq, post, records.replace_surrogates(source_file), source_line)


def _unencodable(value: str | None) -> bool:
    try:
        value is None or value.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def _as_text(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


def _snip(text: str, limit: int = 200) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[:limit] + "..."


def _human(result: IngestResult) -> str:
    lines = [f"read {result.read:,} records from {len(result.files)} file(s) in {result.seconds:.1f} s: "
             f"{result.inserted:,} inserted, {result.duplicates:,} duplicates, "
             f"{result.rejected:,} rejected (ingest batch {result.batch_id})"]
    if result.rejects_file:
        lines.append(f"rejected records (file, line, reason): {result.rejects_file}")
    if result.time_warnings:
        first = result.time_warning_example
        lines.append(f"warning: {result.time_warnings:,} post(s) stored with no time because it could not be "
                     f"read (first: {first['file']} line {first['line']}: {first['warning']}); "
                     "--time-format FORMAT reads other formats")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/ingest.sh", __doc__.split("\n\n", 1)[0] + "\n\n"
                   "Formats: Twitter API v1.1 / v2 JSON (lines or array), generic JSON lines, CSV, parquet;\n"
                   "any of them gzip-compressed. See docs/ingest.md.\n\n"
                   "exit status: 0 ok, 1 error, 2 some records rejected, 130 interrupted", progress=True)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                   help="input files, directories (their files) or glob patterns")
    p.add_argument("--format", default="auto", choices=list(FORMATS),
                   help="auto (default: by extension/content; Twitter objects recognised per record), "
                        "twitter, jsonl/json (generic objects), csv, parquet")
    p.add_argument("--id-column", help="id field of generic records (default: id)")
    p.add_argument("--text-column", help="text field of generic records (default: text)")
    p.add_argument("--time-column", help="timestamp field of generic records (default: created_at)")
    p.add_argument("--time-format", metavar="FMT",
                   help="strptime format of the time field of generic records, e.g. '%%d/%%m/%%Y %%H:%%M' "
                        "(default: recognise ISO 8601, RFC 2822, Twitter's format, US M/D/YYYY H:MM[:SS], "
                        "epoch seconds); unreadable times are stored as NULL with a warning")
    p.add_argument("--author-column", help="author field of generic records (default: author)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the inputs (default: utf-8)")
    p.add_argument("--rejects", type=Path, help="rejects file (default: $GOLDLOOP_HOME/rejects/ingest-<batch>.jsonl)")
    p.add_argument("--batch-size", type=int, default=5000, help="records per transaction (default: 5000)")
    spark.add_engine_arguments(p)
    args = p.parse_args(argv)
    master = spark.engine_of(args)
    result = ingest_paths(args.paths, id_column=args.id_column, text_column=args.text_column,
                          time_column=args.time_column, author_column=args.author_column,
                          time_format=args.time_format, rejects_path=args.rejects, batch_size=args.batch_size, progress=not args.quiet,
                          fmt=args.format, encoding=args.encoding, master=master)
    cli.emit(result, args.json, _human)
    return cli.EXIT_PARTIAL if result.rejected else cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
