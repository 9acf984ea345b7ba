"""The data-access package: every SQL statement and every bulk load of goldloop, organised by what
the data is (see docs/architecture.md for the module of each table).

Each function takes a SQLAlchemy ``Connection`` so callers decide the transaction boundary
(``sql.transaction``); statements bind ``:name`` parameters; bulk loads go through the COPY
helper in ``sql``. Writes are committed before anything acknowledges them.
"""
