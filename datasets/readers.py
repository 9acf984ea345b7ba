"""Streaming readers: one input file -> ``(line_number, Record | Bad)`` with constant memory.

:func:`open_source` checks a file before anything is loaded (exists, readable, known format,
required CSV/parquet columns) and raises :class:`~datasets.errors.GoldloopError` naming it.
Formats:

* ``json``: JSON lines (one value per line) or, when the file starts with ``[`` or holds
  values spread over several lines, a stream of JSON values (an array, or concatenated or
  pretty-printed objects), decoded incrementally;
* ``csv``: a header row, then one record per row (``.tsv`` uses tabs), parsed by the stdlib
  ``csv`` in strict mode; a quote that is never closed rejects its line, not the rest of the file;
* ``parquet``: one record per row, read batch by batch; the "line" is the row number.

Any of them may be gzip-compressed (detected by content). A record that cannot be read
(undecodable bytes, invalid JSON, a line over :data:`MAX_RECORD_BYTES`) becomes a :class:`Bad`
and reading continues with the next one.
"""
from __future__ import annotations

import csv
import glob
import gzip
import io
import json
import re
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from datasets.errors import GoldloopError

MAX_RECORD_BYTES = 16 * 1024 * 1024   # one JSON line / value / CSV record (a v2 page of 500 tweets fits)
_CHUNK = 1024 * 1024
_SNIPPET = 200
FORMATS = ("json", "csv", "parquet")
_EXTENSIONS = {".json": "json", ".jsonl": "json", ".ndjson": "json", ".jsonlines": "json",
               ".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet"}


class Record(NamedTuple):
    """A parsed record and its JSON text (``None`` for CSV/parquet rows)."""

    obj: Any
    raw: str | None


class Bad(NamedTuple):
    """A record that could not be read: why, and the start of its text."""

    reason: str
    snippet: str


class Part(NamedTuple):
    """A piece of one input file that can be read by itself (a Spark task's share of it).

    JSON lines: bytes ``start`` to ``stop`` (both at line starts; ``first_line`` is the line
    number at ``start``); parquet: row groups ``start`` to ``stop`` (``first_line`` is the row
    number of the first row); any other file is a single part of the whole file.
    """

    path: str
    start: int
    stop: int
    first_line: int = 1


class Source:
    """One input file, checked and ready to be read."""

    def __init__(self, path: Path, fmt: str, encoding: str, compressed: bool):
        self.path, self.format, self.encoding, self.compressed = path, fmt, encoding, compressed
        self.size = path.stat().st_size
        self._raw: io.BufferedReader | None = None
        self._rows_done, self._rows_total = 0, 0

    def position(self) -> int:
        """Bytes of the file consumed so far (for progress bars)."""
        if self.format == "parquet":
            return self.size * self._rows_done // max(self._rows_total, 1)
        try:
            return self._raw.tell() if self._raw is not None and not self._raw.closed else self.size
        except (OSError, ValueError):
            return 0

    def records(self, part: Part | None = None) -> Iterator[tuple[int, Record | Bad]]:
        """Yield ``(line_number, Record | Bad)`` for every record of the file (of ``part`` of it,
        one of :meth:`parts`), in order."""
        try:
            if self.format == "parquet":
                yield from self._parquet(part)
            elif part is not None and self.splittable():
                with open(self.path, "rb", buffering=_CHUNK) as raw:
                    raw.seek(part.start)
                    yield from _json_lines(_Bounded(raw, part.stop), self.encoding, part.first_line)
            else:
                with self._open() as stream:
                    yield from (self._csv(stream) if self.format == "csv" else _json(stream, self.encoding))
        except (OSError, EOFError, zlib.error) as exc:
            raise GoldloopError(f"{self.path}: cannot read the file: {exc}") from exc

    def splittable(self) -> bool:
        """Whether the file can be read in byte ranges: uncompressed JSON lines (a gzip stream,
        a CSV record that may span lines and a JSON array or pretty-printed values cannot)."""
        if self.compressed or self.format != "json":
            return False
        with open(self.path, "rb") as raw:
            return not _value_stream(raw.read(_CHUNK).decode(self.encoding, "replace"))

    def parts(self, part_bytes: int) -> list[Part]:
        """The file cut into parts of about ``part_bytes`` at line starts (uncompressed JSON
        lines) or row groups (parquet); other files are one part. The byte parts' ``first_line``
        is not known yet: :func:`number_parts` counts the lines before each."""
        if self.format == "parquet" and not self.compressed:
            import pyarrow.parquet as pq

            meta = pq.ParquetFile(self.path).metadata
            parts, start, first, size = [], 0, 1, 0
            for group in range(meta.num_row_groups):
                size += meta.row_group(group).total_byte_size
                if size >= part_bytes or group == meta.num_row_groups - 1:
                    parts.append(Part(str(self.path), start, group + 1, first))
                    first += sum(meta.row_group(g).num_rows for g in range(start, group + 1))
                    start, size = group + 1, 0
            return parts or [Part(str(self.path), 0, 0)]
        if not self.splittable():
            return [Part(str(self.path), 0, self.size)]
        starts = [0]
        with open(self.path, "rb") as raw:
            for guess in range(part_bytes, self.size, part_bytes):
                if guess <= starts[-1]:
                    continue
                raw.seek(guess - 1)
                raw.readline()  # to the start of the next line (guess itself when it starts one)
                if raw.tell() < self.size and raw.tell() > starts[-1]:
                    starts.append(raw.tell())
        return [Part(str(self.path), a, b) for a, b in zip(starts, starts[1:] + [self.size])]

    def count_lines(self, part: Part) -> int:
        """Lines that start inside byte ``part`` (the newlines in it: parts end after a newline
        or at the end of the file)."""
        count = 0
        with open(self.path, "rb") as raw:
            raw.seek(part.start)
            left = part.stop - part.start
            while left > 0:
                block = raw.read(min(left, _CHUNK))
                if not block:
                    break
                count += block.count(b"\n")
                left -= len(block)
        return count

    def _open(self) -> io.BufferedReader:
        self._raw = open(self.path, "rb", buffering=_CHUNK)
        if self.compressed:
            return io.BufferedReader(gzip.GzipFile(fileobj=self._raw, mode="rb"), _CHUNK)  # type: ignore[arg-type]
        return self._raw  # type: ignore[return-value]

    def _csv(self, stream: io.BufferedReader) -> Iterator[tuple[int, Record | Bad]]:
        csv.field_size_limit(MAX_RECORD_BYTES)
        lines = _CsvLines(stream, self.encoding)
        reader = csv.reader(lines, delimiter=_delimiter(self.path), strict=True)
        try:
            header = next(reader, None)
        except (csv.Error, _RecordTooLong) as exc:
            raise GoldloopError(f"{self.path} line 1: unreadable CSV header: {exc}") from None
        if header is None:
            return
        while True:
            lines.start_record()
            try:
                row = next(reader)
            except StopIteration:
                return
            except (csv.Error, _RecordTooLong) as exc:
                yield lines.reject(exc)
                continue
            if not row:
                continue
            start = lines.record[0][0]
            if len(row) != len(header):
                yield start, Bad(f"expected {len(header)} fields, found {len(row)}", _snip(",".join(row)))
            elif any(_undecodable(v) for v in row):
                yield start, Bad(f"bytes not valid in encoding {self.encoding}", _snip(",".join(row)))
            else:
                yield start, Record(dict(zip(header, row)), None)

    def _parquet(self, part: Part | None) -> Iterator[tuple[int, Record | Bad]]:
        import pyarrow.parquet as pq

        import pyarrow as pa

        parquet = pq.ParquetFile(self.path)
        self._rows_total = parquet.metadata.num_rows
        groups = None
        if part is not None:
            groups = list(range(part.start, part.stop))
            self._rows_done = part.first_line - 1
        try:
            for batch in parquet.iter_batches(batch_size=4096, row_groups=groups):
                for row in batch.to_pylist():
                    self._rows_done += 1
                    yield self._rows_done, Record(row, None)
        except pa.ArrowException as exc:
            raise GoldloopError(f"{self.path}: cannot read parquet row {self._rows_done + 1}: {exc}") from exc


def expand(paths: Iterable[Path | str]) -> list[Path]:
    """The input files named by ``paths``: a file as it is, a directory's files (recursively, in
    name order, without hidden ones and Spark's ``_SUCCESS``-style markers), a glob pattern's
    matches in name order. A pattern matching nothing and an empty directory are errors."""
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file()
                           and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts))
            if not found:
                raise GoldloopError(f"{path}: the directory holds no input files")
            files += found
        elif not path.exists() and glob.has_magic(str(path)):
            found = sorted(Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file())
            if not found:
                raise GoldloopError(f"{path}: no file matches this pattern")
            files += found
        else:
            files.append(path)  # open_source says what is wrong with it, if anything
    return files


def open_source(path: Path, fmt: str = "auto", encoding: str = "utf-8", required: tuple[str, ...] = ()) -> Source:
    """Check one input file and return its :class:`Source`; raise ``GoldloopError`` if unusable.

    ``fmt`` is ``auto`` (by extension, else by content) or one of :data:`FORMATS`.
    ``required`` are columns a CSV header or parquet schema must contain.
    """
    path = Path(path)
    if not path.exists():
        raise GoldloopError(f"{path}: no such file")
    if not path.is_file():
        raise GoldloopError(f"{path}: not a regular file")
    try:
        with open(path, "rb") as raw:
            magic = raw.read(4)
            compressed = magic[:2] == b"\x1f\x8b"
            raw.seek(0)
            head = gzip.GzipFile(fileobj=raw).read(65536) if compressed else raw.read(65536)
    except (OSError, EOFError, zlib.error) as exc:
        raise GoldloopError(f"{path}: cannot read the file: {exc}") from exc
    try:
        if "\n".encode(encoding) != b"\n":
            raise GoldloopError(f"encoding '{encoding}' is not ASCII-compatible; convert the input to UTF-8")
    except LookupError:
        raise GoldloopError(f"unknown encoding '{encoding}'") from None
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise GoldloopError(f"{path}: UTF-16 text (byte order mark found); convert it to UTF-8")
    if fmt == "auto":
        fmt = _detect(path, head, magic)
    elif fmt not in FORMATS:
        raise GoldloopError(f"{path}: unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
    source = Source(path, fmt, encoding, compressed)
    if fmt == "csv":
        _check_columns(path, _csv_header(head, encoding, path), required)
    elif fmt == "parquet":
        _check_columns(path, _parquet_columns(path, compressed), required)
    return source


def _detect(path: Path, head: bytes, magic: bytes) -> str:
    by_name = _EXTENSIONS.get(_base_suffix(path))
    if by_name:
        return by_name
    if magic == b"PAR1":
        return "parquet"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    raise GoldloopError(f"{path}: unknown format (extension '{''.join(path.suffixes) or 'none'}', content is "
                        f"neither JSON nor parquet); pass --format json|csv|parquet")


def _base_suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".gzip"):
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _csv_header(head: bytes, encoding: str, path: Path) -> list[str]:
    try:
        first = head.split(b"\n", 1)[0].decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise GoldloopError(f"{path}: header row is not valid {encoding}: {exc.reason}") from None
    try:
        return next(csv.reader([first], delimiter=_delimiter(path), strict=True), [])
    except csv.Error as exc:
        raise GoldloopError(f"{path} line 1: unreadable CSV header: {exc}") from None


def _delimiter(path: Path) -> str:
    return "\t" if _base_suffix(path) == ".tsv" else ","


def _parquet_columns(path: Path, compressed: bool) -> list[str]:
    import pyarrow.parquet as pq

    if compressed:
        raise GoldloopError(f"{path}: gzip-compressed parquet is not supported; decompress it first")
    try:
        return list(pq.ParquetFile(path).schema_arrow.names)
    except Exception as exc:  # pyarrow raises several types for broken files
        raise GoldloopError(f"{path}: not a readable parquet file: {exc}") from exc


def _check_columns(path: Path, columns: list[str], required: tuple[str, ...]) -> None:
    missing = [c for c in required if c not in columns]
    if missing:
        raise GoldloopError(f"{path}: no column {', '.join(repr(c) for c in missing)} (columns: "
                            f"{', '.join(columns) or 'none'}); choose them with --id-column/--text-column/...")


# --------------------------------------------------------------------------- JSON

def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_loads = json.JSONDecoder(parse_constant=_no_constant).decode


def _undecodable(text: str) -> bool:
    """Whether ``text`` holds bytes kept by ``surrogateescape`` decoding (they cannot be encoded)."""
    try:
        text.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


def number_parts(parts: list[Part], line_counts: list[int]) -> list[Part]:
    """``parts`` of byte-split files with their ``first_line`` set from the lines counted in each
    (``line_counts[i]`` for ``parts[i]``); parts of one file are consecutive and in order."""
    numbered, line, path = [], 1, None
    for part, count in zip(parts, line_counts):
        if part.path != path:
            line, path = 1, part.path
        numbered.append(part._replace(first_line=line))
        line += count
    return numbered


class _Bounded:
    """A binary file read line by line up to byte ``stop`` (a part's end, at a line start)."""

    def __init__(self, raw: io.BufferedReader, stop: int):
        self._raw, self._stop = raw, stop

    def readline(self, limit: int = -1) -> bytes:
        left = self._stop - self._raw.tell()
        if left <= 0:
            return b""
        return self._raw.readline(left if limit < 0 else min(limit, left))


def _value_stream(head: str) -> bool:
    """Whether a JSON file starting with ``head`` is an array or a stream of values spread over
    lines (not JSON lines)."""
    head = head.lstrip("\ufeff \t\r\n")
    return head.startswith("[") or (head.startswith("{") and "\n" in head and not _is_json(head.split("\n", 1)[0]))


def _json(stream: io.BufferedReader, encoding: str) -> Iterator[tuple[int, Record | Bad]]:
    """JSON lines, unless the file starts with ``[`` or its first line is not a whole value."""
    if _value_stream(stream.peek(_CHUNK).decode(encoding, "replace")):
        text = io.TextIOWrapper(stream, encoding=encoding, errors="surrogateescape", newline="")
        yield from _ValueStream(text).values()
    else:
        yield from _json_lines(stream, encoding)


def _is_json(line: str) -> bool:
    try:
        _loads(line)
        return True
    except ValueError:
        return False


def _json_lines(stream: io.BufferedReader | _Bounded, encoding: str,
                first_line: int = 1) -> Iterator[tuple[int, Record | Bad]]:
    number = first_line - 1
    readline = stream.readline
    while True:
        line = readline(MAX_RECORD_BYTES + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_RECORD_BYTES:
            while len(line) > MAX_RECORD_BYTES and not line.endswith(b"\n"):
                line = readline(MAX_RECORD_BYTES + 1)
            yield number, Bad(f"line longer than {MAX_RECORD_BYTES} bytes", "")
            continue
        try:
            text = line.decode(encoding)
        except UnicodeDecodeError as exc:
            yield number, Bad(f"bytes not valid in encoding {encoding} at column {exc.start + 1}",
                              _snip(line.decode(encoding, "replace")))
            continue
        if number == 1:
            text = text.lstrip("\ufeff")
        if not text.strip():
            continue
        try:
            yield number, Record(_loads(text), text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            yield number, Bad(f"invalid JSON: {exc.msg} at column {exc.colno}", _snip(text))
        except (ValueError, RecursionError) as exc:
            yield number, Bad(f"invalid JSON: {'nested too deeply' if isinstance(exc, RecursionError) else exc}",
                              _snip(text))


_SKIP = re.compile(r"[\s,]*")
_SPACE = re.compile(r"\s*")


class _ValueStream:
    """Incremental decoder for a JSON array or a stream of (possibly pretty-printed) values.

    A broken value is reported and skipped up to the next line that starts at the indentation
    of the first value (how arrays and value streams are laid out).
    """

    def __init__(self, text: io.TextIOWrapper):
        self.text, self.buf, self.pos, self.line, self.eof = text, "", 0, 1, False
        self.decoder = json.JSONDecoder(parse_constant=_no_constant)

    def values(self) -> Iterator[tuple[int, Record | Bad]]:
        self._skip(_SPACE)
        if self.buf.startswith("\ufeff", self.pos):
            self._advance(self.pos + 1)
        if self.buf.startswith("[", self.pos):
            self._advance(self.pos + 1)
        resync = None
        while True:
            self._skip(_SKIP)
            if self.pos >= len(self.buf):
                return
            if self.buf[self.pos] == "]":
                self._advance(self.pos + 1)
                continue
            if resync is None:
                indent = self.pos - (self.buf.rfind("\n", 0, self.pos) + 1)
                resync = re.compile(r"\n[ \t]{%d}(?=[\[{])" % indent)
            start = self.line
            value, end, error = self._decode()
            if error is not None:
                yield start, Bad(error, _snip(self.buf[self.pos:self.pos + _SNIPPET]))
                self._resync(resync)
                continue
            raw = self.buf[self.pos:end]
            self._advance(end)
            if _undecodable(raw):
                yield start, Bad(f"bytes not valid in encoding {self.text.encoding}", _snip(raw))
            else:
                yield start, Record(value, raw)

    def _fill(self, want: int = _CHUNK) -> bool:
        if self.eof:
            return False
        if self.pos > _CHUNK:
            self.buf, self.pos = self.buf[self.pos:], 0
        chunk = self.text.read(max(want, _CHUNK))
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def _advance(self, to: int) -> None:
        self.line += self.buf.count("\n", self.pos, to)
        self.pos = to

    def _skip(self, pattern: re.Pattern) -> None:
        while True:
            self._advance(pattern.match(self.buf, self.pos).end())
            if self.pos < len(self.buf) or not self._fill():
                return

    def _decode(self) -> tuple[Any, int, str | None]:
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buf, self.pos)
                if end < len(self.buf) or self.eof or not self._fill():
                    return value, end, None
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_RECORD_BYTES:
                    return None, 0, f"invalid JSON or value longer than {MAX_RECORD_BYTES} characters: {exc.msg}"
                if not self._fill(len(self.buf) - self.pos):
                    where = self.line + self.buf.count("\n", self.pos, exc.pos)
                    return None, 0, f"invalid JSON: {exc.msg} at line {where}"
            except (ValueError, RecursionError) as exc:
                return None, 0, f"invalid JSON: {'nested too deeply' if isinstance(exc, RecursionError) else exc}"

    def _resync(self, pattern: re.Pattern) -> None:
        """Skip to the next line that starts a value at the first value's indentation."""
        start = self.pos + 1
        while True:
            match = pattern.search(self.buf, start)
            if match:
                self._advance(match.start() + 1)
                return
            self._advance(max(self.buf.rfind("\n"), self.pos))
            start = self.pos
            if not self._fill():
                self._advance(len(self.buf))
                return


# --------------------------------------------------------------------------- CSV lines

class _RecordTooLong(Exception):
    """Raised through ``csv.reader`` when the record being read exceeds :data:`MAX_RECORD_BYTES`."""

    def __str__(self) -> str:
        return f"record longer than {MAX_RECORD_BYTES} characters"


class _CsvLines:
    """The physical lines handed to ``csv.reader``, remembering those of the record being parsed.

    ``csv`` itself does the parsing (``strict=True``: a stray quote is an error, not silently
    glued text). What it cannot do is recover from a quote that is never closed: it reads on,
    taking every later row into one field, until the end of the file or the field size limit.
    So the lines of the record in progress are kept (at most :data:`MAX_RECORD_BYTES` of text,
    which bounds memory), and when a record that spans several lines turns out to be broken,
    :meth:`reject` reports its first line and hands the other lines to the reader again: the
    rows after an unterminated quote are read as rows, not lost.

    This is a class, not a generator, because ``csv.reader`` calls it again after an error,
    which a generator that raised would not survive.
    """

    def __init__(self, stream: io.BufferedReader, encoding: str):
        self._stream, self._encoding = stream, encoding
        self._again: deque[tuple[int, str]] = deque()
        self._read = 0
        self._size = 0
        self.record: list[tuple[int, str]] = []  # (line number, text) of the record in progress

    def __iter__(self) -> _CsvLines:
        return self

    def __next__(self) -> str:
        number, text = self._again.popleft() if self._again else self._physical()
        self.record.append((number, text))
        self._size += len(text)
        if self._size > MAX_RECORD_BYTES:
            raise _RecordTooLong()
        return text

    def _physical(self) -> tuple[int, str]:
        """The next line of the file (one longer than the limit is cut there; the rest is skipped)."""
        line = self._stream.readline(MAX_RECORD_BYTES + 1)
        if not line:
            raise StopIteration
        rest = line
        while len(rest) > MAX_RECORD_BYTES and not rest.endswith(b"\n"):
            rest = self._stream.readline(MAX_RECORD_BYTES + 1)
        self._read += 1
        text = line.decode(self._encoding, "surrogateescape")
        return self._read, text.lstrip("\ufeff") if self._read == 1 else text

    def start_record(self) -> None:
        """Forget the previous record's lines: the reader is about to start a new one."""
        self.record, self._size = [], 0

    def reject(self, error: Exception) -> tuple[int, Bad]:
        """The reject for the record that just failed; a multi-line one gives back all but its first line."""
        number, text = self.record[0]
        if len(self.record) == 1:
            return number, Bad(f"invalid CSV: {error}", _snip(text))
        self._again.extendleft(reversed(self.record[1:]))
        return number, Bad(f"invalid CSV: unterminated quote ({error}); the lines after this one are read as rows",
                           _snip(text))


# --------------------------------------------------------------------------- helpers

def _snip(text: str) -> str:
    text = text.rstrip("\r\n")
    return text if len(text) <= _SNIPPET else text[:_SNIPPET] + "..."
