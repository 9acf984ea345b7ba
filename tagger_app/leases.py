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


CLAIMED_IDS = "l.ids"  # how a ``rows_sql`` of ``claim_sql`` names the array of claimed ids


def claim_sql(candidates_sql: str, rows_sql: str | None = None) -> str:
    """One statement that leases up to ``:n`` of the ids ``candidates_sql`` selects (in its order)
    to ``:annotator``. Its first row starts with (claimed ids, number of candidates); with
    ``rows_sql``, a SELECT over the claimed ids as ``CLAIMED_IDS``, each of its rows follows those
    two columns (one row of NULLs when nothing was claimed), so the items come in the same round trip."""
    sql = (f"WITH c AS MATERIALIZED (SELECT ARRAY({candidates_sql}) AS ids),"
           f" l AS MATERIALIZED (SELECT tagger_claim(:task, :annotator, c.ids, :n, CAST('{TTL}' AS interval)) AS ids,"
           f" cardinality(c.ids) AS found FROM c)")
    if rows_sql is None:
        return sql + " SELECT l.ids, l.found FROM l"
    return sql + f" SELECT l.ids, l.found, r.* FROM l LEFT JOIN LATERAL ({rows_sql}) r ON true"


def claim(conn: Connection, task: str, annotator: str, post_ids: list[str]) -> list[str]:
    """Lease ``post_ids`` to ``annotator`` where nobody else holds them; return the claimed ones."""
    return conn.execute(sa.text(claim_sql("SELECT unnest(CAST(:ids AS text[]))")),
                        {"task": task, "annotator": annotator, "ids": post_ids, "n": len(post_ids)}).scalar()
