"""``bin/import_labels.sh``: bring existing labels (CSV, JSONL, parquet) in as human labels.

Each row's id must be a post in ``raw_posts`` and its label one of the task's labels, given by
name, by integer index in the task's label order (``0`` = first label, as Snorkel counts), or
through ``--map 0=ham,1=spam``. Integer labels need ``--task`` (or ``--map``): a number means
nothing without the task whose label order it counts in, and silently filing spam/ham 0/1
labels under the default task would corrupt its golden set. The task used is always reported.
Rows are appended to ``human_labels`` (action ``label``, source ``import``, annotator
``import:<file name>`` unless given) in one transaction. A label the same
annotator already has on the post is skipped, so importing a file again appends nothing.
Rejected rows are reported with their line (CSV, JSONL) or row (parquet) number.
"""
from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from tqdm import tqdm

from datasets import cli
from datasets.errors import GoldloopError
from datasets.results import StepResult
from datasets.store import labels, posts, sql
from labeling.task import Task, add_task_argument, load_task

SHOWN_REJECTS = 20


@dataclass(frozen=True, slots=True)
class Reject(StepResult):
    """A row not imported: where it is (``<file name> line N`` or ``row N``, so it can be found
    and fixed), its post id (None when empty or unreadable) and why."""

    where: str
    id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ImportResult(StepResult):
    """One import (the ``--json`` output of ``bin/import_labels.sh``, docs/tasks.md).

    ``task``, ``task_file`` and ``task_default`` (no ``--task`` given) always say where the
    labels went, since labels filed under the wrong task corrupt its golden set; ``read`` rows,
    of which ``imported`` were appended, ``skipped`` were already there (or repeated in the
    file) and ``rejected`` are listed in ``rejects`` by line.
    """

    file: str
    task: str
    task_file: str
    task_default: bool
    annotator: str
    read: int
    imported: int
    skipped: int
    rejected: int
    rejects: tuple[Reject, ...]


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8-sig", newline="") if path.suffix == ".gz" else \
        path.open(encoding="utf-8-sig", newline="")


def _kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    last = suffixes[-1] if suffixes else ""
    if last in (".csv", ".tsv"):
        return last[1:]
    if last in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if last in (".parquet", ".pq"):
        return "parquet"
    raise GoldloopError(f"{path}: unknown file type {last or '(none)'!r}; expected .csv, .tsv, .jsonl or .parquet")


def _missing_column(path: Path, column: str, available: Sequence[str]) -> GoldloopError:
    return GoldloopError(f"{path}: no column {column!r}; columns: {', '.join(map(str, available))}")


def read_rows(path: Path, id_column: str, label_column: str) -> Iterator[tuple[str, Any, Any, str | None]]:
    """Yield ``(where, id, label, problem)`` for each record; ``problem`` names an unreadable record."""
    kind = _kind(path)
    try:
        if kind in ("csv", "tsv"):
            with _open_text(path) as handle:
                reader = csv.DictReader(handle, delimiter="," if kind == "csv" else "\t")
                for column in (id_column, label_column):
                    if column not in (reader.fieldnames or []):
                        raise _missing_column(path, column, reader.fieldnames or [])
                for row in reader:
                    yield f"line {reader.line_num}", row.get(id_column), row.get(label_column), None
        elif kind == "jsonl":
            with _open_text(path) as handle:
                for number, line in enumerate(handle, start=1):
                    if not line.strip():
                        continue
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as exc:
                        yield f"line {number}", None, None, f"invalid JSON ({exc.msg})"
                        continue
                    if not isinstance(record, dict):
                        yield f"line {number}", None, None, "not a JSON object"
                        continue
                    yield f"line {number}", record.get(id_column), record.get(label_column), None
        else:
            parquet = pq.ParquetFile(path)
            for column in (id_column, label_column):
                if column not in parquet.schema_arrow.names:
                    raise _missing_column(path, column, parquet.schema_arrow.names)
            number = 0
            for batch in parquet.iter_batches(columns=[id_column, label_column]):
                for post_id, label in zip(batch.column(0).to_pylist(), batch.column(1).to_pylist()):
                    number += 1
                    yield f"row {number}", post_id, label, None
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise GoldloopError(f"{path}: no such file") from None
        raise GoldloopError(f"{path}: unreadable ({exc})") from exc


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_map(text: str) -> dict[str, str]:
    """``"0=ham,1=spam"`` -> ``{"0": "ham", "1": "spam"}``."""
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        value, sep, label = part.partition("=")
        if not sep or not value.strip() or not label.strip():
            raise GoldloopError(f"--map: expected VALUE=LABEL pairs separated by commas, got {part!r}")
        mapping[value.strip()] = label.strip()
    return mapping


def resolve_label(task: Task, value: Any, label_map: dict[str, str] | None) -> str | None:
    """The task label a file value stands for (name, mapped value or integer index), or None."""
    text = _text(value)
    if label_map is not None:
        text = label_map.get(text, text)
    if text in task.labels:
        return text
    if text.lstrip("-").isdigit() and 0 <= int(text) < len(task.labels):
        return task.labels[int(text)]
    return None


def import_labels(path: Path | str, *, task_path: Path | str | None = None, id_column: str = "id",
                  label_column: str = "label", annotator: str | None = None,
                  label_map: dict[str, str] | None = None, progress: bool = True) -> ImportResult:
    """Import labels from ``path``; rejected rows are listed, not fatal.

    Nothing is written when the file cannot be read at all (missing column, unknown type).
    """
    path = Path(path)
    task = load_task(task_path)
    # A number means a label only by its position in some task's label list: never guess the task.
    numbers_need_task = task_path is None and label_map is None
    if label_map:
        unknown = sorted(set(label_map.values()) - set(task.labels))
        if unknown:
            raise GoldloopError(f"--map: unknown label(s) {unknown} for task {task.name}; known: {task.labels}")
    annotator = annotator or f"import:{path.name}"
    rejects: list[Reject] = []
    wanted: dict[str, tuple[str, str]] = {}  # post id -> (label, where)
    read = skipped = 0
    for where, raw_id, raw_label, problem in tqdm(read_rows(path, id_column, label_column), desc="reading",
                                                  unit="row", disable=not progress):
        read += 1
        post_id, label = _text(raw_id), resolve_label(task, raw_label, label_map)
        if numbers_need_task and label is not None and _text(raw_label) not in task.labels:
            raise GoldloopError(
                f"{path} {where}: label {_text(raw_label)!r} is a number, which names a label only by its "
                f"position in a task's labels, and no --task was given (the default task {task.name} has "
                f"{task.labels}); name the task with --task FILE, or translate the values with --map "
                f"{','.join(f'{i}=LABEL' for i in range(len(task.labels)))}")
        reason = problem or (f"empty {id_column!r}" if not post_id else None) or (
            None if label else f"unknown label {_text(raw_label)!r} (task {task.name} labels: {task.labels})")
        if not reason and post_id in wanted and wanted[post_id][0] != label:
            reason = f"label {label!r} conflicts with {wanted[post_id][0]!r} given at {wanted[post_id][1]}"
        if reason:
            rejects.append(Reject(f"{path.name} {where}", post_id or None, reason))
        elif post_id in wanted:
            skipped += 1
        else:
            wanted[post_id] = (label, where)
    with sql.transaction() as conn:
        known = posts.known_ids(conn, list(wanted))
        current = labels.labels_in_force(conn, task.name, annotator, list(wanted))
        rows = []
        for post_id, (label, where) in wanted.items():
            if post_id not in known:
                rejects.append(Reject(f"{path.name} {where}", post_id, "unknown post id"))
            elif current.get(post_id) == label:
                skipped += 1
            else:
                rows.append((post_id, label, {"file": str(path), "at": where}))
        labels.append_labels(conn, task=task.name, annotator=annotator, source="import", labels=rows)
    rejects.sort(key=lambda r: int(r.where.rsplit(" ", 1)[1]))
    return ImportResult(file=str(path), task=task.name, task_file=str(task.path), task_default=task_path is None,
                        annotator=annotator, read=read, imported=len(rows), skipped=skipped, rejected=len(rejects),
                        rejects=tuple(rejects))


def format_result(result: ImportResult) -> str:
    """Human summary of an import."""
    default = " (the default task; choose another with --task)" if result.task_default else ""
    lines = [f"{result.file}: read {result.read}, imported {result.imported}, skipped {result.skipped}"
             f" (already labeled), rejected {result.rejected}",
             f"  labels went to task {result.task} ({result.task_file}){default}, annotator {result.annotator}"]
    lines += [f"  rejected {r.where}: {r.reason}" for r in result.rejects[:SHOWN_REJECTS]]
    if result.rejected > SHOWN_REJECTS:
        lines.append(f"  ... and {result.rejected - SHOWN_REJECTS} more (use --json for all)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``bin/import_labels.sh``."""
    p = cli.parser("bin/import_labels.sh", "Import labels from a CSV, TSV, JSONL or parquet file as human labels.\n"
                   "Labels are task label names, integer indices in the task's label order (only with an explicit\n"
                   "--task), or mapped with --map. The summary names the task the labels went to.\n"
                   "Exit status 2 when some rows were rejected (they are listed with their line numbers).", progress=True)
    p.add_argument("file", type=Path, help="labels file (.csv, .tsv, .jsonl, .parquet; .gz for text files)")
    add_task_argument(p)
    p.add_argument("--id-column", default="id", help="column holding post ids (default: id)")
    p.add_argument("--label-column", default="label", help="column holding labels (default: label)")
    p.add_argument("--annotator", default=None, help="annotator name recorded (default: import:<file name>)")
    p.add_argument("--map", dest="label_map", type=parse_map, default=None, metavar="V=LABEL,...",
                   help="translate file values to label names, e.g. 0=ham,1=spam")
    args = p.parse_args(argv)
    result = import_labels(args.file, task_path=args.task, id_column=args.id_column, label_column=args.label_column,
                           annotator=args.annotator, label_map=args.label_map,
                           progress=not args.quiet)
    cli.emit(result, args.json, format_result)
    return cli.EXIT_PARTIAL if result.rejected else cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
