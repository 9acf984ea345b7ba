"""Item leases in PostgreSQL (table ``tagger_leases``, migration 013): annotators working at once
are not served the same item, across server processes and restarts.

An item handed to one annotator (shown or preloaded) is held for ``TTL`` or until they answer it;
meanwhile the queues skip it for everyone else. Leases are taken by ``tagger_claim()`` inside the
statement that picks the next items (see ``claim_sql``), one atomic INSERT ... ON CONFLICT per item.
An answer releases the lease in its own INSERT (trigger ``human_labels_release_lease``), after a
short linger: a queue query whose snapshot predates the answer must still find the item leased.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

TTL = "600 seconds"


def free_for(id_expr: str) -> str:
    """SQL condition: nobody but ``:annotator`` holds a lease on ``id_expr`` (needs ``:task``).

    A scalar sub-query on purpose: PostgreSQL probes the primary key per candidate row instead of
    hashing every lease ever taken.
    """
    return (f"COALESCE((SELECT l.expires_at <= now() OR l.annotator = :annotator FROM tagger_leases l"
            f" WHERE l.task = :task AND l.post_id = {id_expr}), true)")


def claim_sql(candidates_sql: str) -> str:
    """One statement that leases up to ``:n`` of the ids ``candidates_sql`` selects (in its order)
    to ``:annotator``; its one row is (claimed ids, number of candidates)."""
    return (f"WITH c AS MATERIALIZED (SELECT ARRAY({candidates_sql}) AS ids)"
            f" SELECT tagger_claim(:task, :annotator, c.ids, :n, CAST('{TTL}' AS interval)), cardinality(c.ids) FROM c")


def claim(conn: Connection, task: str, annotator: str, post_ids: list[str]) -> list[str]:
    """Lease ``post_ids`` to ``annotator`` where nobody else holds them; return the claimed ones."""
    return conn.execute(sa.text(claim_sql("SELECT unnest(CAST(:ids AS text[]))")),
                        {"task": task, "annotator": annotator, "ids": post_ids, "n": len(post_ids)}).scalar()
