"""Hot statements as server-side prepared statements: PostgreSQL plans each once per connection.

The tagger's pooled connections live as long as the server, so ``PREPARE`` once per connection
and ``EXECUTE`` afterwards skips the planning (0.6-0.7 ms for the queue and post statements, more
than they take to run) and SQLAlchemy's ``text()`` compilation; the statement runs on the DBAPI
cursor of the pooled connection. Statements use ``:name`` parameters like ``sa.text``;
PostgreSQL infers their types from the context (add a ``CAST`` where it cannot).

Each ``EXECUTE`` runs with ``SET LOCAL enable_seqscan = off`` (in the same round trip and the same
transaction; in an explicit transaction the setting lasts until it ends). The hot statements are
index probes and short index ranges whatever the table sizes, and PostgreSQL plans them while the
label and lease tables are young: statistics that call a table empty make a sequential scan per
candidate look free. With it forced off, the plan PostgreSQL settles on (its generic plan, reused
without planning again) is the index plan; planning the claim anew on every request was half of
PostgreSQL's time per request. Migration 016 leaves each probe one usable index.
"""
from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

from sqlalchemy.engine import Connection

_PARAM = re.compile(r"(?<![:\w]):(\w+)")


class Prepared:
    """One SQL statement with ``:name`` parameters, prepared on each connection that runs it."""

    def __init__(self, sql: str) -> None:
        self.names: list[str] = list(dict.fromkeys(_PARAM.findall(sql)))
        self.name = "goldloop_" + hashlib.sha1(sql.encode()).hexdigest()[:20]
        numbered = _PARAM.sub(lambda m: f"${self.names.index(m.group(1)) + 1}", sql)
        self._prepare = f"PREPARE {self.name} AS {numbered}"
        args = ", ".join(f"%({n})s" for n in self.names)
        self._execute = f"SET LOCAL enable_seqscan = off; EXECUTE {self.name}" + (f" ({args})" if args else "")

    def execute(self, conn: Connection, params: dict[str, Any]) -> tuple[list[str], list[tuple]]:
        """Run on ``conn``'s DBAPI connection; returns the column names and all rows."""
        fairy = conn.connection
        prepared = fairy.info.setdefault("goldloop_prepared", set())  # cleared when the connection is replaced
        cur = fairy.dbapi_connection.cursor()
        try:
            if self.name not in prepared:
                cur.execute(self._prepare)
                prepared.add(self.name)
            cur.execute(self._execute, {n: params[n] for n in self.names})
            columns = [d[0] for d in cur.description] if cur.description else []
            return columns, cur.fetchall() if cur.description else []
        finally:
            cur.close()

    def mappings(self, conn: Connection, params: dict[str, Any]) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        columns, rows = self.execute(conn, params)
        return [dict(zip(columns, row)) for row in rows]


@functools.lru_cache(maxsize=512)
def statement(sql: str) -> Prepared:
    """The ``Prepared`` for ``sql`` (one per distinct text; queue statements are built per kind)."""
    return Prepared(sql)
