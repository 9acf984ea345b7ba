"""Item leases in PostgreSQL (table ``tagger_leases``, migration 013): annotators working at once
are not served the same item, across server processes and restarts.

An item handed to one annotator (shown or preloaded) is held for ``TTL`` or until they answer it;
meanwhile the queues skip it for everyone else. Leases are taken by ``tagger_claim()`` inside the
statement that picks the next items (see ``claim_sql``), one atomic INSERT ... ON CONFLICT per item.
An answer releases the lease in its own INSERT (trigger ``human_labels_release_lease``), after a
short linger: a queue query whose snapshot predates the answer must still find the item leased.
The row stays, naming the annotator who held the item last, until someone else claims it.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

TTL = "600 seconds"


def free_for(id_expr: str) -> str:
    """SQL condition: nobody but ``:annotator`` holds a lease on ``id_expr`` (needs ``:task``)."""
    return ("NOT EXISTS (SELECT 1 FROM tagger_leases l WHERE l.task = :task"
            f" AND l.post_id = {id_expr} AND l.annotator <> :annotator AND l.expires_at > now())")


def claim_sql(candidates_sql: str) -> str:
    """One statement that leases up to ``:n`` of the ids ``candidates_sql`` selects (in its order)
    to ``:annotator``; its one row holds the claimed ids and the number of candidates."""
    return (f"WITH c AS MATERIALIZED (SELECT ARRAY({candidates_sql}) AS ids)"
            f" SELECT tagger_claim(:task, :annotator, c.ids, :n, CAST('{TTL}' AS interval)), cardinality(c.ids) FROM c")


def claim(conn: Connection, task: str, annotator: str, post_ids: list[str]) -> list[str]:
    """Lease ``post_ids`` to ``annotator`` where nobody else holds them; return the claimed ones."""
    return conn.execute(sa.text(claim_sql("SELECT unnest(CAST(:ids AS text[]))")),
                        {"task": task, "annotator": annotator, "ids": post_ids, "n": len(post_ids)}).first()[0]


def release(conn: Connection, task: str, annotator: str, post_ids: list[str]) -> None:
    """End ``annotator``'s leases on ``post_ids`` now (items found closed after all)."""
    if post_ids:
        conn.execute(sa.text("UPDATE tagger_leases SET expires_at = now() WHERE task = :task"
                             " AND annotator = :annotator AND post_id = ANY(:ids)"),
                     {"task": task, "annotator": annotator, "ids": post_ids})


@dataclass(frozen=True)
class Lease:
    """Who was last given an item, and whether that lease is still in force."""

    annotator: str
    in_force: bool


def lease_of(conn: Connection, task: str, post_id: str) -> Lease | None:
    """The item's lease, or None when it was never leased."""
    row = conn.execute(sa.text(
        "SELECT annotator, expires_at > now() FROM tagger_leases WHERE task = :task AND post_id = :post_id"
    ), {"task": task, "post_id": post_id}).first()
    return Lease(*row) if row else None


def count_claimable(conn: Connection, task: str, version: int, split: str, limit: int) -> int:
    """Items of ``split`` with no label in force and no lease in force, counted up to ``limit``
    (whether a queue that says it is exhausted really has nothing left to hand out)."""
    return conn.execute(sa.text(
        "SELECT count(*) FROM (SELECT 1 FROM split_members m WHERE m.version = :version AND m.split = :split"
        " AND NOT EXISTS (SELECT 1 FROM annotator_labels a WHERE a.task = :task AND a.post_id = m.post_id)"
        " AND NOT EXISTS (SELECT 1 FROM tagger_leases l WHERE l.task = :task AND l.post_id = m.post_id"
        "                 AND l.expires_at > clock_timestamp())"
        " LIMIT :limit) s"
    ), {"version": version, "split": split, "task": task, "limit": limit}).scalar()
