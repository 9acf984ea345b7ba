"""``bin/export.sh``: write the golden sets of a data-set version, one file per split.

Each row: post_id, split, text, label, n_annotators, annotators, annotator_labels (annotator ->
label), agreement (share of annotators agreeing with the golden label), conflict, resolved,
labeled_at. Formats: parquet (default), csv, jsonl. Files are written to a temporary name and
renamed, so a reader never sees half a file.
"""
from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import cli, workspace
from datasets.results import StepResult
from datasets.store import db, golden, versions
from datasets.store.versions import SPLITS
from labeling.task import add_task_argument, load_task

FORMATS = ("parquet", "csv", "jsonl")
# A spreadsheet runs a cell starting with one of these as a formula (=HYPERLINK(...) in a post's text).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class ExportedSplit(StepResult):
    """One written golden set: its ``rows``, its file (``path``) and how many rows are unresolved
    ``conflicts`` (written only with ``--include-conflicts``, label empty)."""

    rows: int
    path: str
    conflicts: int


@dataclass(frozen=True, slots=True)
class ExportResult(StepResult):
    """One export (the ``--json`` output of ``bin/export.sh``): the golden sets of ``task`` on
    data-set ``version`` written as ``format`` into ``out_dir``, per split."""

    task: str
    version: int
    format: str
    out_dir: str
    splits: dict[str, ExportedSplit]


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """CSV/parquet form of a row: annotator_labels as a JSON string."""
    return {**row, "annotator_labels": json.dumps(row["annotator_labels"], sort_keys=True)}


def _inert(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a leading quote before a formula character (OWASP)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def serialize(rows: list[dict[str, Any]], fmt: str) -> bytes:
    """Rows as CSV (annotators joined by ';', formula cells made inert) or JSON Lines bytes."""
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=golden.COLUMNS)
    writer.writeheader()
    for row in rows:
        flat = {**_flat(row), "annotators": ";".join(row["annotators"])}
        writer.writerow({key: _inert(value) for key, value in flat.items()})
    return buf.getvalue().encode()


def _parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("post_id", pa.string()), ("split", pa.string()), ("text", pa.string()),
                        ("label", pa.string()), ("n_annotators", pa.int32()), ("annotators", pa.list_(pa.string())),
                        ("annotator_labels", pa.string()), ("agreement", pa.float64()), ("conflict", pa.bool_()),
                        ("resolved", pa.bool_()), ("labeled_at", pa.string())])
    pq.write_table(pa.Table.from_pylist([_flat(r) for r in rows], schema=schema), path)


def write(rows: list[dict[str, Any]], path: Path, fmt: str) -> None:
    """Write ``rows`` to ``path`` in ``fmt``, atomically (temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "parquet":
        _parquet(rows, tmp)
    else:
        tmp.write_bytes(serialize(rows, fmt))
    os.replace(tmp, path)


def main(argv: Sequence[str] | None = None) -> int:
    p = cli.parser("bin/export.sh", __doc__.split("\n\n")[0].split(": ", 1)[1])
    add_task_argument(p)
    p.add_argument("--version", type=int, help="data-set version (default: the latest)")
    p.add_argument("--split", action="append", choices=SPLITS, help="split to export (repeatable; default all)")
    p.add_argument("--format", choices=FORMATS, default="parquet", help="output format (default parquet)")
    p.add_argument("--out", type=Path, help="output directory (default $GOLDLOOP_HOME/exports/<task>/v<N>)")
    p.add_argument("--include-conflicts", action="store_true", help="also write unresolved conflicts (label empty)")
    args = p.parse_args(argv)
    task = load_task(args.task)
    engine = db.get_engine()
    # One snapshot for every split: a label committed while they are read shows in all of them or in none.
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
        version = versions.resolve(conn, args.version)
        by_split = {s: golden.rows(conn, task.name, version, s, args.include_conflicts) for s in args.split or SPLITS}
    out_dir = args.out or workspace.home() / "exports" / task.name / f"v{version}"
    out_dir.mkdir(parents=True, exist_ok=True)
    splits = {}
    for split, rows in by_split.items():
        path = out_dir / f"{split}_golden.{args.format}"
        write(rows, path, args.format)
        splits[split] = ExportedSplit(rows=len(rows), path=str(path), conflicts=sum(1 for r in rows if r["conflict"]))
    result = ExportResult(task=task.name, version=version, format=args.format, out_dir=str(out_dir), splits=splits)
    cli.emit(result, args.json, _human)
    return cli.EXIT_OK


def _human(r: ExportResult) -> str:
    lines = [f"golden sets of task {r.task}, version {r.version} ({r.format}):"]
    lines += [f"  {s:<5} {v.rows:>7} rows -> {v.path}" for s, v in r.splits.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    cli.run(main)
