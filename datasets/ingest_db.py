"""The database side of ingestion: one ``ingest_batches`` row and whole-batch COPY loads.

Each batch is one transaction: COPY the rows (CSV) into a temporary staging table, then
``INSERT ... SELECT DISTINCT ON (id) ... ON CONFLICT (id) DO NOTHING`` into ``raw_posts``
(the first occurrence of an id wins, within the batch and across runs) and add the batch's
counts to its ``ingest_batches`` row. An interrupted load therefore leaves only whole batches
behind, and the counts stored always match the rows stored. Should PostgreSQL still refuse a
batch (a value the record checks missed), the batch is split in halves until the refused rows
are isolated and reported, so they never take good rows down with them.
"""
from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import NamedTuple

import psycopg2
from sqlalchemy.engine import Engine

from datasets.records import Post, RecordError, replace_surrogates

_COLUMNS = ("id", "created_at", "text", "lang", "author", "author_id", "source_app", "is_retweet",
            "retweeted_id", "hashtags", "mentions", "urls", "media_urls", "raw", "source_file", "source_line")
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
    seq integer, id text, created_at timestamptz, text text, lang text, author text, author_id text,
    source_app text, is_retweet boolean, retweeted_id text, hashtags text[], mentions text[], urls text[],
    media_urls text[], raw jsonb, source_file text, source_line integer
) ON COMMIT DELETE ROWS"""
_NULLABLE = ("created_at", "lang", "author", "author_id", "source_app", "retweeted_id")
_COPY = (f"COPY ingest_stage (seq, {', '.join(_COLUMNS)}) FROM STDIN "
         f"WITH (FORMAT csv, FORCE_NULL ({', '.join(_NULLABLE)}))")
_INSERT = f"""
INSERT INTO raw_posts ({', '.join(_COLUMNS)}, batch_id)
SELECT DISTINCT ON (id) {', '.join(_COLUMNS)}, %(batch)s FROM ingest_stage ORDER BY id, seq
ON CONFLICT (id) DO NOTHING"""
_COUNT = """
UPDATE ingest_batches SET read = read + %(read)s, inserted = inserted + %(inserted)s,
       duplicates = duplicates + %(duplicates)s, rejected = rejected + %(rejected)s WHERE id = %(batch)s"""


class Staged(NamedTuple):
    """One post as a UTF-8 CSV line for COPY, with where it came from."""

    line: bytes
    source_file: str
    source_line: int
    id: str


class Refused(NamedTuple):
    """A staged row PostgreSQL refused, with its error."""

    row: Staged
    reason: str


_TEXT_FIELDS = ("id", "text", "lang", "author", "author_id", "source_app", "retweeted_id",
                "hashtags", "mentions", "urls", "media_urls")


def encode(seq: int, post: Post, source_file: str, source_line: int) -> Staged:
    """The CSV line of one post for ``COPY ... (FORMAT csv)`` (``seq`` orders duplicates in a batch).

    Raises :class:`RecordError` when a field holds text UTF-8 cannot encode (lone surrogates
    from undecodable input); such characters in ``raw`` or the file name become U+FFFD instead.
    """
    try:
        line = _line(seq, post, source_file, source_line).encode("utf-8")
    except UnicodeEncodeError:
        for name in _TEXT_FIELDS:
            value = getattr(post, name)
            if any(_unencodable(v) for v in (value if isinstance(value, list) else [value])):
                raise RecordError(f"invalid Unicode in {name} (undecodable bytes or a lone surrogate)") from None
        post = post._replace(raw=replace_surrogates(post.raw))
        line = _line(seq, post, replace_surrogates(source_file), source_line).encode("utf-8")
    return Staged(line, source_file, source_line, post.id)


def _line(seq: int, post: Post, source_file: str, source_line: int) -> str:
    return (f"{seq},{_q(post.id)},{_q(post.created_at)},{_q(post.text)},{_q(post.lang)},{_q(post.author)},"
            f"{_q(post.author_id)},{_q(post.source_app)},{'t' if post.is_retweet else 'f'},{_q(post.retweeted_id)},"
            f"{_array(post.hashtags)},{_array(post.mentions)},{_array(post.urls)},{_array(post.media_urls)},"
            f"{_q(post.raw)},{_q(source_file)},{source_line}\n")


def _q(value: str | None) -> str:
    """A CSV field: quoted text, or empty (NULL) for ``None``."""
    return "" if value is None else '"' + value.replace('"', '""') + '"'


def _array(items: list[str]) -> str:
    """A quoted PostgreSQL array literal of text items."""
    if not items:
        return "{}"
    return _q("{" + ",".join('"' + i.replace("\\", "\\\\").replace('"', '\\"') + '"' for i in items) + "}")


def _unencodable(value: str | None) -> bool:
    try:
        value is None or value.encode("utf-8")
        return False
    except UnicodeEncodeError:
        return True


class BatchWriter:
    """Owns one ``ingest_batches`` row and loads batches of staged rows into ``raw_posts``."""

    def __init__(self, engine: Engine, sources: Sequence[str], options: dict):
        self.engine = engine
        self.conn = engine.raw_connection()
        with self.conn.cursor() as cur:
            cur.execute("INSERT INTO ingest_batches (sources, options) VALUES (%s, %s) RETURNING id",
                        (list(sources), json.dumps(options)))
            self.batch_id: int = cur.fetchone()[0]
            cur.execute(_STAGE)
        self.conn.commit()

    def write(self, rows: list[Staged], read: int, rejected: int) -> tuple[int, int, list[Refused]]:
        """Load ``rows`` (plus the batch's read/rejected counts) in one transaction.

        Returns ``(inserted, duplicates, refused)``: rows PostgreSQL refused, counted as rejected.
        """
        try:
            return (*self._load(rows, read, rejected), [])
        except psycopg2.DataError as exc:
            self.conn.rollback()
            if len(rows) == 1:
                self._load([], read, rejected + 1)
                return 0, 0, [Refused(rows[0], f"refused by PostgreSQL: {exc.pgerror or exc}".strip())]
        half = len(rows) // 2
        first = self.write(rows[:half], read, rejected)
        second = self.write(rows[half:], 0, 0)
        return first[0] + second[0], first[1] + second[1], first[2] + second[2]

    def _load(self, rows: list[Staged], read: int, rejected: int) -> tuple[int, int]:
        with self.conn.cursor() as cur:
            inserted = 0
            if rows:
                cur.copy_expert(_COPY, io.BytesIO(b"".join(r.line for r in rows)), size=1 << 20)
                cur.execute(_INSERT, {"batch": self.batch_id})
                inserted = cur.rowcount
            duplicates = len(rows) - inserted
            cur.execute(_COUNT, {"read": read, "inserted": inserted, "duplicates": duplicates,
                                 "rejected": rejected, "batch": self.batch_id})
        self.conn.commit()
        return inserted, duplicates

    def finish(self, status: str) -> None:
        """Mark the batch ``done`` or ``failed`` and release the connection.

        When the connection itself is broken (the failure being reported), the row stays ``running``.
        """
        try:
            self.conn.rollback()
            with self.conn.cursor() as cur:
                cur.execute("UPDATE ingest_batches SET status = %s, finished_at = now() WHERE id = %s",
                            (status, self.batch_id))
            self.conn.commit()
        except psycopg2.Error:
            if status == "done":
                raise
        finally:
            self.conn.close()
