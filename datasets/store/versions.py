"""Data-set versions (``dataset_versions``) and their split membership (``split_members``).

A version is created once, in one transaction, and never changed: the split step reserves its
number, checks the ids assigned to splits by file, reads the candidate posts, copies the
membership and streams each split back out for its parquet export before committing. Every
other step only asks which version to work on (``resolve``) and which posts a split holds.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from datasets.errors import GoldloopError
from datasets.store import sql

# The split names, in the order the commands list them (the CHECK of split_members.split).
SPLITS: tuple[str, ...] = ("test", "dev", "lf", "train")
MEMBER_COLUMNS = ("version", "post_id", "split", "norm_hash")
ASSIGNED_COLUMNS = ("id", "split", "file", "line")
STREAM_ROWS = 20_000  # rows per fetch of a streamed read: bounded memory, few round trips

# Candidates of a new version: assigned posts whatever their language, the others when no language
# filter is given or theirs is in it. ``assigned_ids`` is the temporary table ``load_assigned`` fills.
_CANDIDATES = ("FROM raw_posts p LEFT JOIN assigned_ids a ON a.id = p.id"
               " WHERE a.id IS NOT NULL OR CAST(:lang AS text[]) IS NULL OR p.lang = ANY(CAST(:lang AS text[]))")


class UnknownAssigned(NamedTuple):
    """The first assigned id that is not a stored post, and how many of its file's ids are unknown."""

    file: str
    line: int
    id: str
    unknown_in_file: int


def latest(conn: Connection) -> int | None:
    """The newest version number, or None before the first split."""
    return conn.execute(sa.text("SELECT max(version) FROM dataset_versions")).scalar()


def resolve(conn: Connection, version: int | None) -> int:
    """The version a step should use: ``version`` when given (it must exist), else the newest.

    Raises ``GoldloopError`` naming the way out (``bin/split.sh``) when there is no such version,
    so every command fails with the same clear message instead of an empty result.
    """
    if version is None:
        newest = latest(conn)
        if newest is None:
            raise GoldloopError("no data-set version yet; run bin/split.sh")
        return int(newest)
    if not conn.execute(sa.text("SELECT 1 FROM dataset_versions WHERE version = :v"), {"v": version}).scalar():
        raise GoldloopError(f"data-set version {version} does not exist; see bin/split.sh")
    return int(version)


def reserve(conn: Connection) -> int:
    """A new version number from the table's sequence, taken before the row is written so the
    export directory can be named (and checked) first; a rolled-back split leaves a gap."""
    return int(conn.execute(sa.text("SELECT nextval(pg_get_serial_sequence('dataset_versions', 'version'))"))
               .scalar_one())


def create(conn: Connection, version: int, seed: int, params: dict[str, Any] | None = None,
           counts: dict[str, int] | None = None, export_dir: str | None = None) -> None:
    """Record version ``version`` (a number from ``reserve``) with the parameters that made it."""
    conn.execute(sa.text("INSERT INTO dataset_versions (version, seed, params, counts, export_dir)"
                         " VALUES (:version, :seed, CAST(:params AS jsonb), CAST(:counts AS jsonb), :export_dir)"),
                 {"version": version, "seed": seed, "params": _json(params or {}), "counts": _json(counts or {}),
                  "export_dir": export_dir})


def load_assigned(conn: Connection, rows: Iterable[Sequence[Any]]) -> UnknownAssigned | None:
    """Copy the ids assigned by file (``ASSIGNED_COLUMNS``) into the transaction's temporary table
    ``assigned_ids``, which ``candidates`` joins; returns the first id that is not a stored post
    (in file and line order), or None when every one is."""
    conn.execute(sa.text("CREATE TEMP TABLE assigned_ids (id text PRIMARY KEY, split text NOT NULL,"
                         " file text NOT NULL, line integer NOT NULL) ON COMMIT DROP"))
    sql.copy_rows(conn, "assigned_ids", ASSIGNED_COLUMNS, rows)
    row = conn.execute(sa.text(
        "SELECT a.file, a.line, a.id, count(*) OVER (PARTITION BY a.file) FROM assigned_ids a"
        " LEFT JOIN raw_posts p ON p.id = a.id WHERE p.id IS NULL ORDER BY a.file, a.line LIMIT 1")).first()
    return UnknownAssigned(*row) if row else None


def candidate_count(conn: Connection, lang: list[str] | None) -> int:
    """How many posts ``candidates`` will yield (for the progress bar)."""
    return int(conn.execute(sa.text(f"SELECT count(*) {_CANDIDATES}"), {"lang": lang}).scalar_one())


def candidates(conn: Connection, lang: list[str] | None) -> Iterator[Sequence[Row]]:
    """The posts a new version draws from, in batches: id, text, is_retweet, created_at in
    microseconds since the epoch, and the split assigned by file (None when drawn).

    Streamed: only one batch of texts is in memory at a time, whatever the corpus size.
    """
    return _stream(conn, sa.text("SELECT p.id, p.text, p.is_retweet,"
                                 " (extract(epoch FROM p.created_at) * 1000000)::bigint, a.split"
                                 f" {_CANDIDATES}"), {"lang": lang})


def copy_members(conn: Connection, rows: Iterable[Sequence[Any]]) -> int:
    """COPY membership rows (``MEMBER_COLUMNS``) into ``split_members``; returns their number."""
    return sql.copy_rows(conn, "split_members", MEMBER_COLUMNS, rows)


def split_rows(conn: Connection, version: int, split: str, post_columns: Sequence[str]) -> Iterator[Sequence[Row]]:
    """One split's posts in batches, in id order (numeric order for numeric ids): the
    ``raw_posts`` columns ``post_columns``, then norm_hash, split and version.

    Streamed like ``candidates``, so a split of millions of posts exports in bounded memory.
    """
    columns = ", ".join(f"p.{c}" for c in post_columns)
    return _stream(conn, sa.text(f"SELECT {columns}, m.norm_hash, m.split, m.version FROM split_members m"
                                 " JOIN raw_posts p ON p.id = m.post_id WHERE m.version = :version AND m.split = :split"
                                 " ORDER BY length(p.id), p.id"), {"version": version, "split": split})


def member_ids(conn: Connection, version: int, splits: Sequence[str]) -> set[str]:
    """The ids of the posts in ``splits`` of ``version``."""
    return set(conn.execute(sa.text("SELECT post_id FROM split_members WHERE version = :v AND split = ANY(:s)"),
                            {"v": version, "s": list(splits)}).scalars())


def _stream(conn: Connection, statement: sa.TextClause, params: dict[str, Any]) -> Iterator[Sequence[Row]]:
    """Batches of ``STREAM_ROWS`` rows from a server-side cursor, inside the caller's transaction
    (so a split reads the membership it has just copied). The options apply to this statement
    only: the caller's connection keeps its ordinary buffered cursors."""
    result = conn.execute(statement, params, execution_options={"stream_results": True, "yield_per": STREAM_ROWS})
    with result:
        yield from result.partitions()


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
