"""The work queues: which post an annotator should see next, and how far along they are.

Kinds (``QUEUE_KINDS``):

* ``split``: sequentially through one split of the data-set version (building golden test/dev sets);
* ``active``: the latest active-learning queue of the task; until one exists, items whose LFs
  disagree (first) or all abstain, from the task's latest LF run;
* ``disagree``: items whose human (golden) label an LF of the latest run votes against;
* ``random``: uniformly random items of the version (optionally of one split);
* ``review``: the latest label-review queue (golden labels a model confidently contradicts);
* ``predictions``: a model's predicted labels to accept or reject, least confident first; for the
  production model, the newest review sample ``bin/monitor.sh`` wrote (a queue of kind
  ``production``: a share of the live window, least confident first) once there is one.

Queues that collect new labels (split, active, random, predictions) skip items the annotator
already answered and items that already carry ``cap`` annotators' labels. Queues that re-check
existing labels (disagree, review) skip items the annotator answered since the queue was made.
Every query also skips ``exclude``: the items the client already holds and items leased to others.
"""
from __future__ import annotations

import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from datasets import jsonout
from datasets.store import leases, predictions, sql, votes
from datasets.store.versions import SPLITS

QUEUE_KINDS = ("split", "active", "disagree", "random", "review", "predictions")
PREDICTION_SOURCES = predictions.SOURCES
RECHECK_QUEUES = ("disagree", "review")  # re-check existing labels: no annotator cap

_ANSWERS = "('label', 'skip', 'resolve')"


def _open_for(id_expr: str, *, since: bool, capped: bool) -> str:
    """SQL condition: the item is still open for ``:annotator``.

    Open = no answer of theirs in force (since ``:since`` when ``since``), and, when ``capped``,
    fewer than ``:cap`` annotators' labels in force. A scalar sub-query on purpose: PostgreSQL
    evaluates it per candidate row (cheap under ``LIMIT``) instead of turning it into an anti-join
    over every answer given so far.
    """
    mine = "h.annotator = :annotator" + (" AND h.created_at >= :since" if since else "")
    conds = [f"NOT COALESCE(bool_or({mine}), false)"]
    if capped:
        conds.append("count(DISTINCT h.annotator) FILTER (WHERE h.action = 'label') < :cap")
    return (f"(SELECT {' AND '.join(conds)} FROM human_labels h WHERE h.task = :task AND h.post_id = {id_expr}"
            f" AND h.action IN {_ANSWERS} AND NOT EXISTS (SELECT 1 FROM human_labels u WHERE u.undoes = h.id))")


@dataclass
class Claimed:
    """What one claim leased: the ids, and whether the queue ran out of open candidates."""

    ids: list[str]
    ran_out: bool


@dataclass
class QueueQuery:
    """One queue as SQL: the candidate set, its order, and which answers take an item out of it."""

    kind: str
    id_expr: str
    from_where: str                  # "FROM ... WHERE ..." of the whole queue
    order_by: str
    params: dict[str, Any]
    since: datetime | None = None    # re-check queues: answers older than this do not count
    capped: bool = True
    info: dict[str, Any] = field(default_factory=dict)
    keyset: str | None = None        # unique order column a client's cursor resumes after

    def _open(self) -> str:
        return _open_for(self.id_expr, since=self.since is not None, capped=self.capped)

    def _bind(self, **extra: Any) -> dict[str, Any]:
        return {**self.params, "since": self.since, **extra}

    def claim(self, conn: Connection, n: int, candidates: int, exclude: list[str],
              after: str | None = None) -> Claimed:
        """Lease up to ``n`` post ids to show next, in queue order (after the cursor ``after``,
        when the queue has a keyset), picked among the first ``candidates`` open items nobody
        else holds, in one statement.

        Each closed item between the start and the first open one costs a look-up, so a client
        resuming after its last item (``cursor``) does not walk over everything labeled so far.
        """
        resume = f" AND {self.keyset} > :after" if self.keyset and after is not None else ""
        sql = (f"SELECT {self.id_expr} {self.from_where}{resume} AND {self.id_expr} <> ALL(:exclude)"
               f" AND {leases.free_for(self.id_expr)} AND {self._open()} ORDER BY {self.order_by} LIMIT :candidates")
        ids, found = conn.execute(sa.text(leases.claim_sql(sql)),
                                  self._bind(n=n, exclude=exclude, candidates=candidates, after=after)).one()
        return Claimed(ids, found < candidates)

    def still_open(self, conn: Connection, ids: list[str]) -> list[str]:
        """Those of ``ids`` still open, in order, checked by a statement of its own.

        The claiming statement decides what is open from a snapshot taken when it starts; an
        answer committed while it ran (a slow claim, an answered lease lapsing meanwhile) shows
        only to a later statement.
        """
        sql = (f"SELECT t.id FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS t(id, i)"
               f" WHERE {_open_for('t.id', since=self.since is not None, capped=self.capped)} ORDER BY t.i")
        return list(conn.execute(sa.text(sql), self._bind(ids=ids)).scalars())

    def cursor(self, conn: Connection, ids: list[str]) -> str | None:
        """The keyset position of the last of ``ids``: where the client's next request resumes."""
        if not (self.keyset and ids):
            return None
        sql = f"SELECT max({self.keyset}) {self.from_where} AND {self.id_expr} = ANY(:ids)"
        return conn.execute(sa.text(sql), self._bind(ids=ids)).scalar()

    def progress(self, conn: Connection) -> dict[str, int]:
        """``total`` items in the queue and ``done`` (no longer open for this annotator)."""
        sql = (f"SELECT count(*), count(*) FILTER (WHERE {self._open()}) {self.from_where}")
        total, still_open = conn.execute(sa.text(sql), self._bind()).one()
        return {"total": total, "done": total - still_open}


@dataclass
class RandomQueue(QueueQuery):
    """Random order without sorting the table: start at a random point of the md5-ordered index."""

    def claim(self, conn: Connection, n: int, candidates: int, exclude: list[str],
              after: str | None = None) -> Claimed:
        first = QueueQuery.claim(self._from(secrets.token_hex(16)), conn, n, candidates, exclude)
        if not (first.ran_out and len(first.ids) < n):
            return first
        more = QueueQuery.claim(self._from(""), conn, n - len(first.ids), candidates, exclude + first.ids)
        return Claimed(first.ids + more.ids, more.ran_out)  # wrapped around to the start of the index

    def _from(self, start: str) -> QueueQuery:
        return QueueQuery(self.kind, self.id_expr, self.from_where + " AND sm.norm_hash >= :start",
                          self.order_by, {**self.params, "start": start}, self.since, self.capped)


def _latest_queue(conn: Connection, task: str, kind: str) -> dict[str, Any] | None:
    row = conn.execute(sa.text(
        "SELECT id, strategy, version, created_at FROM queues WHERE task = :task AND kind = :kind "
        "ORDER BY created_at DESC, id DESC LIMIT 1"
    ), {"task": task, "kind": kind}).mappings().first()
    return dict(row) if row else None


class QueueUnavailable(Exception):
    """The queue cannot be served (no data-set version, no LF run, no predictions...); message says why."""


def build(conn: Connection, kind: str, *, task: str, labels: list[str], annotator: str, version: int | None,
          cap: int, split: str | None = None, source: str | None = None) -> QueueQuery:
    """The ``QueueQuery`` of queue ``kind`` for one annotator (raises ``QueueUnavailable``)."""
    base = {"task": task, "annotator": annotator, "cap": cap, "version": version}
    if kind in ("split", "random"):
        if version is None:
            raise QueueUnavailable("no data-set version yet: run bin/split.sh first")
        if kind == "split" and split not in SPLITS:
            raise QueueUnavailable(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        where = "FROM split_members sm WHERE sm.version = :version" + (" AND sm.split = :split" if split else "")
        if kind == "random":
            return RandomQueue(kind, "sm.post_id", where, "sm.norm_hash", {**base, "split": split},
                               info={"split": split, "version": version})
        return QueueQuery(kind, "sm.post_id", where, "sm.norm_hash", {**base, "split": split},
                          info={"split": split, "version": version}, keyset="sm.norm_hash")
    if kind in ("active", "review"):
        queue = _latest_queue(conn, task, kind)
        if queue is not None:
            return QueueQuery(kind, "qi.post_id", "FROM queue_items qi WHERE qi.queue_id = :queue_id", "qi.rank",
                              {**base, "queue_id": queue["id"]},
                              since=queue["created_at"] if kind == "review" else None, capped=kind not in RECHECK_QUEUES,
                              info={"queue_id": queue["id"], "strategy": queue["strategy"]})
        if kind == "review":
            raise QueueUnavailable("no label-review queue yet: the training loop writes one")
        return _lf_fallback(conn, base)
    if kind == "disagree":
        run = votes.latest_run(conn, task, version)
        if run is None:
            raise QueueUnavailable("no labeling-function run yet: run bin/label.sh first")
        return QueueQuery(
            kind, "g.post_id",
            "FROM golden_labels g JOIN lf_votes v ON v.run_id = :run_id AND v.post_id = g.post_id"
            " WHERE g.task = :task AND g.label IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(v.votes) x"
            "  WHERE x >= 0 AND x <> array_position(CAST(:label_names AS text[]), g.label) - 1)",
            "md5(g.post_id)", {**base, "run_id": run["id"], "label_names": run["label_names"]},
            since=run["created_at"], capped=False, info={"lf_run": run["id"]})
    if kind == "predictions":
        if source not in PREDICTION_SOURCES:
            raise QueueUnavailable(f"unknown prediction source {source!r}; choose {' or '.join(PREDICTION_SOURCES)}")
        sample = _latest_queue(conn, task, "production") if source == "production" else None
        if sample is not None:  # bin/monitor.sh's review sample of live predictions, in its order
            return QueueQuery(kind, "qi.post_id",
                              "FROM queue_items qi JOIN predictions pr ON pr.task = :task AND pr.source = :source"
                              " AND pr.post_id = qi.post_id WHERE qi.queue_id = :queue_id AND pr.label = ANY(:labels)",
                              "qi.rank", {**base, "source": source, "labels": labels, "queue_id": sample["id"]},
                              info={"source": source, "queue_id": sample["id"], "strategy": sample["strategy"]})
        return QueueQuery(kind, "pr.post_id",
                          "FROM predictions pr WHERE pr.task = :task AND pr.source = :source AND pr.label = ANY(:labels)",
                          "pr.confidence, pr.post_id", {**base, "source": source, "labels": labels},
                          info={"source": source})
    raise QueueUnavailable(f"unknown queue {kind!r}; choose one of {', '.join(QUEUE_KINDS)}")


def _lf_fallback(conn: Connection, base: dict[str, Any]) -> QueueQuery:
    """Cold-start active queue: LF disagreements first, then items every LF abstains on."""
    run = votes.latest_run(conn, base["task"], base["version"])
    if run is None:
        raise QueueUnavailable("no active-learning queue and no labeling-function run yet: run bin/label.sh first")
    distinct = "(SELECT count(DISTINCT x) FROM unnest(v.votes) x WHERE x >= 0)"
    return QueueQuery("active", "v.post_id", f"FROM lf_votes v WHERE v.run_id = :run_id AND {distinct} <> 1",
                      f"{distinct} DESC, md5(v.post_id)", {**base, "run_id": run["id"]},
                      info={"strategy": "lf_disagreement_fallback", "lf_run": run["id"]})


# -- written by the training loop (models/tagger_queues.py) -----------------------------------------
_ITEM_COLUMNS = ("queue_id", "post_id", "rank", "score", "reason")


def write(conn: Connection, *, task: str, kind: str, strategy: str, version: int, params: dict[str, Any],
          items: Iterable[tuple[str, int, float | None, str | None]]) -> int:
    """Insert a queue of ``kind`` (``active``, ``review`` or ``production``) and its ``items`` (``post_id, rank,
    score, reason``; rank 1 is asked first) in the caller's transaction; return the queue id.

    The tagger serves the newest queue of each kind, so a new queue replaces the old one for
    annotators the moment this transaction commits, never half-written. The items go by COPY: an
    active-learning queue can rank a whole pool. A NaN score (the strategy could not score the
    item) is stored as NULL.
    """
    queue_id = int(conn.execute(sa.text(
        "INSERT INTO queues (task, kind, strategy, version, params)"
        " VALUES (:task, :kind, :strategy, :version, CAST(:params AS jsonb)) RETURNING id"),
        {"task": task, "kind": kind, "strategy": strategy, "version": version,
         "params": jsonout.dumps(params)}).scalar_one())
    sql.copy_rows(conn, "queue_items", _ITEM_COLUMNS,
                  ((queue_id, str(post_id), int(rank), _score(score), reason) for post_id, rank, score, reason in items))
    return queue_id


def _score(value: float | None) -> float | None:
    """A score as COPY writes it: a plain float, or None for a missing or NaN score."""
    return None if value is None or math.isnan(value) else float(value)
