"""How the store talks to PostgreSQL: SQLAlchemy statements with ``:name`` parameters inside one
transaction helper, and one COPY helper for bulk loads.

Every module of ``datasets.store`` writes its statements with ``sa.text`` and ``:name``
parameters and takes a SQLAlchemy ``Connection``, so the caller decides the transaction
(``transaction``). Bulk loads go through ``copy_rows`` / ``copy_lines`` on that same connection:
COPY runs on its DBAPI cursor, inside the caller's transaction, so a load commits or rolls back
with everything else the caller did.
"""
from __future__ import annotations

import io
import numbers
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, Engine

from datasets import jsonout
from datasets.store import db

COPY_CHUNK_BYTES = 8 << 20  # one COPY per 8 MiB of CSV: bounded memory, few round trips
# psycopg2 reads a COPY's input in pieces of this size, taking the GIL back for each one (8 KiB
# by default): large pieces keep a COPY on a writer thread from waiting on the parsing thread.
COPY_READ_BYTES = 1 << 20


@contextmanager
def transaction(engine: Engine | None = None) -> Iterator[Connection]:
    """A connection of ``engine`` (default: the goldloop database) in one transaction, committed
    when the block ends without error and rolled back otherwise."""
    with (engine or db.get_engine()).begin() as conn:
        yield conn


def csv_field(value: Any) -> str:
    """One value as a field of ``COPY ... (FORMAT csv)``: None is an empty unquoted field (NULL),
    text is always quoted (so an empty string stays one), booleans are ``t``/``f``, lists become
    PostgreSQL array literals and dicts JSON (for ``jsonb``).

    Text is tested first, by exact type (the cheapest test), then None and lists: most fields a
    bulk load sends are those, and this runs once per field of every row, so each test ahead of
    them slows every load. An array's elements are written with their CSV quotes already doubled.
    """
    if type(value) is str:
        return '"' + value.replace('"', '""') + '"'
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):  # the array literal {"a","b"} with its quotes doubled for CSV
        return '"{' + ",".join(['""' + str(v).replace("\\", "\\\\").replace('"', '\\""') + '""'
                                for v in value]) + '}"'
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, numbers.Real):  # NumPy's too; str, not repr: its repr is "np.float64(0.5)"
        return str(value)
    if isinstance(value, dict):
        value = jsonout.dumps(value, ensure_ascii=False)
    return '"' + str(value).replace('"', '""') + '"'


def csv_line(row: Sequence[Any]) -> bytes:
    """One row as a UTF-8 CSV line for COPY (fields as ``csv_field`` writes them).

    Raises ``UnicodeEncodeError`` for text UTF-8 cannot encode (a lone surrogate), so a caller
    can refuse that one row before it reaches a COPY.
    """
    return (",".join(map(csv_field, row)) + "\n").encode("utf-8")


def copy_lines(conn: Connection, table: str, columns: Sequence[str], lines: Iterable[bytes],
               options: str = "") -> int:
    """COPY CSV ``lines`` (see ``csv_line``) into ``table`` (``columns``) on ``conn``, in chunks of
    about ``COPY_CHUNK_BYTES``; ``options`` are extra COPY options (``FORCE_NULL (...)``). Returns
    the number of lines sent."""
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv{', ' + options if options else ''})"
    cursor = conn.connection.dbapi_connection.cursor()

    def send(chunk: list[bytes]) -> int:
        if chunk:
            cursor.copy_expert(sql, io.BytesIO(b"".join(chunk)), size=COPY_READ_BYTES)
        return len(chunk)

    sent = size = 0
    chunk: list[bytes] = []
    try:
        for line in lines:
            chunk.append(line)
            size += len(line)
            if size >= COPY_CHUNK_BYTES:
                sent += send(chunk)
                chunk, size = [], 0
        sent += send(chunk)
    finally:
        cursor.close()
    return sent


def copy_rows(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]],
              options: str = "") -> int:
    """COPY ``rows`` (sequences in ``columns`` order) into ``table`` on ``conn``; returns their number."""
    return copy_lines(conn, table, columns, map(csv_line, rows), options)
