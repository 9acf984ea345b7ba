"""Row files a command writes for people and other tools: parquet, CSV or JSON lines, chosen by
the file's extension, written atomically (a temporary name, then a rename), so a reader never
sees half a file and an interrupted command leaves the previous file or none.

Nested values (a dict of counts or probabilities) are JSON text in CSV and parquet and objects
in JSON lines; times are ISO 8601 text. A CSV cell a spreadsheet would run as a formula gets a
leading quote (OWASP's advice), since post texts and URLs are anyone's writing.
"""
from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from datasets import jsonout
from datasets.errors import GoldloopError

EXTENSIONS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "jsonl"}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def format_of(path: Path, option: str = "--out") -> str:
    """The format of ``path`` by its extension; a :class:`GoldloopError` naming ``option`` otherwise."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise GoldloopError(f"{option} {path}: unknown extension {path.suffix or '(none)'!r}; "
                            f"expected one of {', '.join(EXTENSIONS)}")
    if not path.parent.is_dir():
        raise GoldloopError(f"{option} {path}: directory {path.parent} does not exist")
    return fmt


def _plain(value: Any, nested_as_text: bool) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict) and nested_as_text:
        return jsonout.dumps(value, sort_keys=True)
    return value


def _inert(value: Any) -> Any:
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def write(rows: Sequence[dict[str, Any]], path: Path, columns: Sequence[str]) -> None:
    """Write ``rows`` (``columns`` of each, in that order) to ``path`` in the format of its extension."""
    fmt = format_of(path)
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "jsonl":
        tmp.write_text("".join(jsonout.dumps({c: _plain(r[c], False) for c in columns}, ensure_ascii=False) + "\n"
                               for r in rows), encoding="utf-8")
    elif fmt == "csv":
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(columns)
        out.writerows([_inert(_plain(r[c], True)) for c in columns] for r in rows)
        tmp.write_text(buf.getvalue(), encoding="utf-8")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pydict({c: [_plain(r[c], True) for r in rows] for c in columns})
        pq.write_table(table, tmp)
    os.replace(tmp, path)
