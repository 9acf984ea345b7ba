"""Posts: how ingestion stores them in ``raw_posts``, and how the tagger shows them, with optional
hints (LF votes, model predictions)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

import psycopg2
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from datasets import jsonout
from datasets.store import predictions, sql, urls, votes

if TYPE_CHECKING:
    from datasets.records import Post

_POSTS = sa.text(
    "SELECT p.id AS post_id, p.text, p.author, p.created_at, p.lang, p.hashtags, p.mentions, p.urls,"
    " p.media_urls, p.is_retweet, sm.split,"
    " (SELECT al.label FROM annotator_labels al"
    "   WHERE al.task = :task AND al.post_id = p.id AND al.annotator = :annotator) AS my_label,"
    " (SELECT g.label FROM golden_labels g WHERE g.task = :task AND g.post_id = p.id) AS golden_label"
    " FROM raw_posts p LEFT JOIN split_members sm ON sm.version = :version AND sm.post_id = p.id"
    " WHERE p.id = ANY(:ids)"
)


def _lf_hints(conn: Connection, run: dict[str, Any], ids: list[str]) -> dict[str, list[dict[str, str]]]:
    rows = conn.execute(sa.text("SELECT post_id, votes FROM lf_votes WHERE run_id = :run AND post_id = ANY(:ids)"),
                        {"run": run["id"], "ids": ids})
    names, labels = run["lf_names"], run["label_names"]
    return {post_id: [{"lf": names[i], "label": labels[v]} for i, v in enumerate(votes)
                      if 0 <= v < len(labels) and i < len(names)]
            for post_id, votes in rows}


def add_hints(conn: Connection, task: str, version: int | None, items: list[dict[str, Any]]) -> None:
    """Attach ``hints`` (the votes of the latest LF run on ``version``, stored predictions) to each item."""
    if not items:
        return
    ids = [item["post_id"] for item in items]
    run = votes.latest_run(conn, task, version)
    lf_votes = _lf_hints(conn, run, ids) if run else {}
    preds = predictions.of_posts_all_sources(conn, task, ids)
    for item in items:
        item["hints"] = {"lf_votes": lf_votes.get(item["post_id"], []), "predictions": preds.get(item["post_id"], [])}


def load(conn: Connection, task: str, version: int | None, annotator: str, ids: list[str],
         hints: bool) -> list[dict[str, Any]]:
    """The posts ``ids`` in that order as JSON-ready items, with the annotator's current label and
    the golden label; with ``hints``, LF votes and predictions."""
    by_id = {}
    for row in conn.execute(_POSTS, {"task": task, "version": version, "annotator": annotator, "ids": ids}).mappings():
        by_id[row["post_id"]] = {**row, "created_at": row["created_at"].isoformat() if row["created_at"] else None}
    out = [by_id[i] for i in ids if i in by_id]
    if hints:
        add_hints(conn, task, version, out)
    return out


def exists(conn: Connection, post_id: str) -> bool:
    """Whether ``post_id`` is a stored post."""
    return bool(conn.execute(sa.text("SELECT 1 FROM raw_posts WHERE id = :id"), {"id": post_id}).scalar())


def known_ids(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Those of ``ids`` that are stored posts (one statement for a whole file of ids)."""
    return set(conn.execute(sa.text("SELECT id FROM raw_posts WHERE id = ANY(:ids)"), {"ids": list(ids)}).scalars())


def in_split(conn: Connection, version: int | None, split: str | None, post_id: str) -> bool:
    """Whether ``post_id`` belongs to ``split`` of data-set ``version``."""
    return bool(conn.execute(sa.text(
        "SELECT 1 FROM split_members WHERE version = :version AND split = :split AND post_id = :post_id"
    ), {"version": version, "split": split, "post_id": post_id}).scalar())


# --------------------------------------------------------------------------- ingestion
# Each batch is one transaction: COPY its rows into a temporary staging table, then
# ``INSERT ... SELECT DISTINCT ON (id) ... ON CONFLICT (id) DO NOTHING`` into ``raw_posts`` (the
# first occurrence of an id wins, within the batch and across runs), record the links of the posts
# it inserted in the URL store (``datasets.store.urls``) and add the batch's counts to its
# ``ingest_batches`` row. An interrupted load therefore leaves only whole batches behind, and
# the counts stored always match the rows stored.

# The raw_posts columns an ingest writes, in staging order after ``seq``: a Post's fields, then
# where it came from.
INGEST_COLUMNS = ("id", "created_at", "text", "lang", "author", "author_id", "source_app", "is_retweet",
                  "retweeted_id", "hashtags", "mentions", "urls", "media_urls", "raw", "source_file", "source_line")
_POST_FIELDS = attrgetter(*INGEST_COLUMNS[:-2])
_STAGE = sa.text("""
CREATE TEMP TABLE IF NOT EXISTS ingest_stage (
    seq integer, id text, created_at timestamptz, text text, lang text, author text, author_id text,
    source_app text, is_retweet boolean, retweeted_id text, hashtags text[], mentions text[], urls text[],
    media_urls text[], raw jsonb, source_file text, source_line integer
) ON COMMIT DELETE ROWS""")
# Empty text in these optional columns is stored as NULL: absent rather than an empty value.
_FORCE_NULL = "FORCE_NULL (created_at, lang, author, author_id, source_app, retweeted_id)"
_INSERT = sa.text(f"""
INSERT INTO raw_posts ({', '.join(INGEST_COLUMNS)}, batch_id)
SELECT DISTINCT ON (id) {', '.join(INGEST_COLUMNS)}, :batch FROM ingest_stage ORDER BY id, seq
ON CONFLICT (id) DO NOTHING RETURNING id, created_at, urls, media_urls""")
_COUNT = sa.text("""
UPDATE ingest_batches SET read = read + :read, inserted = inserted + :inserted,
       duplicates = duplicates + :duplicates, rejected = rejected + :rejected WHERE id = :batch""")


class Staged(NamedTuple):
    """One post as a CSV line for the staging COPY, with where it came from."""

    line: bytes
    source_file: str
    source_line: int
    id: str


class Refused(NamedTuple):
    """A staged row PostgreSQL refused, with its error."""

    row: Staged
    reason: str


def staged(seq: int, post: Post, source_file: str, source_line: int) -> Staged:
    """``post`` as a staging row (``seq`` orders duplicate ids within a batch).

    Raises ``UnicodeEncodeError`` (from ``sql.csv_line``) when a field holds text UTF-8 cannot
    encode, so the caller can refuse that one post before it reaches a COPY.
    """
    line = sql.csv_line((seq, *_POST_FIELDS(post), source_file, source_line))
    return Staged(line, source_file, source_line, post.id)


class IngestBatch:
    """One ``ingest_batches`` row, and the connection of its own that loads its batches.

    The connection is not the caller's: each batch commits by itself (from the ingest's writer
    thread) so that an interruption keeps every batch already written. Several writers may load
    into one ``ingest_batches`` row at the same time (:meth:`attach`: the Spark engine's tasks),
    each on its own connection; the counts are added, never overwritten.
    """

    def __init__(self, engine: Engine, sources: Sequence[str], options: dict[str, Any]):
        self._conn = engine.connect()
        try:
            with self._conn.begin():
                self.batch_id: int = self._conn.execute(sa.text(
                    "INSERT INTO ingest_batches (sources, options) VALUES (:sources, CAST(:options AS jsonb))"
                    " RETURNING id"), {"sources": list(sources), "options": jsonout.dumps(options)}).scalar_one()
                self._conn.execute(_STAGE)
        except BaseException:
            self._conn.close()
            raise

    @classmethod
    def attach(cls, engine: Engine, batch_id: int) -> IngestBatch:
        """Another writer into the existing batch ``batch_id``; :meth:`close` it, the batch's
        creator ends the batch with :meth:`finish`."""
        writer = cls.__new__(cls)
        writer._conn, writer.batch_id = engine.connect(), batch_id
        try:
            with writer._conn.begin():
                writer._conn.execute(_STAGE)
        except BaseException:
            writer._conn.close()
            raise
        return writer

    def close(self) -> None:
        """Release the connection (an attached writer's end; the batch's status is its creator's)."""
        if self._conn.in_transaction():
            self._conn.rollback()
        self._conn.close()

    def write(self, rows: list[Staged], read: int, rejected: int) -> tuple[int, int, list[Refused]]:
        """Load ``rows`` (plus the batch's read/rejected counts) in one transaction.

        Returns ``(inserted, duplicates, refused)``. Should PostgreSQL refuse the batch (a value
        the record checks missed), it is split in halves until the refused rows are isolated and
        counted as rejected, so they never take good rows down with them.
        """
        try:
            with self._conn.begin():
                return (*self._load(rows, read, rejected), [])
        # The COPY runs on the DBAPI cursor (psycopg2's own error), the INSERT through SQLAlchemy.
        except (psycopg2.DataError, sa.exc.DataError) as exc:
            if len(rows) == 1:
                with self._conn.begin():
                    self._load([], read, rejected + 1)
                error = getattr(exc, "orig", exc)
                return 0, 0, [Refused(rows[0], f"refused by PostgreSQL: {error.pgerror or error}".strip())]
        half = len(rows) // 2
        first = self.write(rows[:half], read, rejected)
        second = self.write(rows[half:], 0, 0)
        return first[0] + second[0], first[1] + second[1], first[2] + second[2]

    def write_open(self, rows: list[Staged], read: int, rejected: int) -> tuple[Connection, int]:
        """Load ``rows`` in a transaction left open on the batch's connection, for a caller that
        stores what it derives from them in the same transaction (the Spark stream: a file's
        posts and their predictions commit together). Returns the connection, to commit, and
        the number of posts inserted. Unlike :meth:`write`, a row PostgreSQL refuses fails the
        whole transaction."""
        self._conn.begin()
        return self._conn, self._load(rows, read, rejected)[0]

    def _load(self, rows: list[Staged], read: int, rejected: int) -> tuple[int, int]:
        inserted = 0
        if rows:
            sql.copy_lines(self._conn, "ingest_stage", ("seq", *INGEST_COLUMNS), (r.line for r in rows), _FORCE_NULL)
            fresh = self._conn.execute(_INSERT, {"batch": self.batch_id}).all()
            inserted = len(fresh)
            urls.add_post_links(self._conn, fresh)
        duplicates = len(rows) - inserted
        self._conn.execute(_COUNT, {"read": read, "inserted": inserted, "duplicates": duplicates,
                                    "rejected": rejected, "batch": self.batch_id})
        return inserted, duplicates

    def finish(self, status: str) -> None:
        """Mark the batch ``done`` or ``failed`` and release the connection.

        When the connection itself is broken (the failure being reported), the row stays ``running``.
        """
        try:
            if self._conn.in_transaction():
                self._conn.rollback()
            with self._conn.begin():
                self._conn.execute(sa.text("UPDATE ingest_batches SET status = :status, finished_at = now()"
                                           " WHERE id = :batch"), {"status": status, "batch": self.batch_id})
        except sa.exc.SQLAlchemyError:
            if status == "done":
                raise
        finally:
            self._conn.close()


def count(conn: Connection) -> int:
    """How many posts are stored."""
    return int(conn.execute(sa.text("SELECT count(*) FROM raw_posts")).scalar_one())


def add_bare(conn: Connection, rows: Iterable[tuple[str, str]]) -> int:
    """Store posts that are only an id and a text, outside any ingest batch (a benchmark's
    synthetic corpus); returns their number."""
    return sql.copy_rows(conn, "raw_posts", ("id", "text"), rows)


def clear(conn: Connection) -> None:
    """Delete every post and ingest batch, and by cascade everything made from them: the empty
    database a benchmark's next measurement starts from."""
    conn.execute(sa.text("TRUNCATE raw_posts, ingest_batches, urls CASCADE"))
