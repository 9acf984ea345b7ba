"""PostgreSQL access: the embedded server, engines, and schema migrations.

``DATABASE_URL`` selects any PostgreSQL server. When it is unset, an embedded PostgreSQL
(the ``pgserver`` package) is started from ``$GOLDLOOP_HOME/pgdata``. The embedded server is
stopped when the last process using it exits, unless ``bin/db.sh start`` asked to keep it
running. Migrations in ``sql/NNN_*.sql`` are applied in order inside one transaction (all or
nothing) and recorded in ``schema_migrations``, so applying them again is harmless.
"""
from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from datasets import workspace
from datasets.errors import GoldloopError

SQL_DIR = workspace.REPO_ROOT / "sql"
EMBEDDED_DATABASE = "goldloop"
_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_MIGRATION_LOCK_KEY = 0x601D100F  # pg_advisory_xact_lock key serialising concurrent migrators


def keep_running_marker() -> Path:
    """File whose presence tells processes not to stop the embedded server on exit."""
    return workspace.home() / "pg.keep-running"


def embedded_server(keep_running: bool | None = None):
    """Start (or attach to) the embedded PostgreSQL server and return its ``pgserver`` handle."""
    import pgserver

    if keep_running is None:
        keep_running = keep_running_marker().exists()
    return pgserver.get_server(workspace.pgdata_dir(), cleanup_mode=None if keep_running else "stop")


def _ensure_database(admin_uri: str, name: str) -> None:
    """Create database ``name`` on the server behind ``admin_uri`` when it does not exist."""
    admin = sa.create_engine(sqlalchemy_url(admin_uri), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()


def sqlalchemy_url(uri: str) -> str:
    """``uri`` as SQLAlchemy wants it: the psycopg2 driver forced on a ``postgresql://`` URI."""
    url = make_url(uri)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg2")
    return url.render_as_string(hide_password=False)


def database_url() -> str:
    """Return the SQLAlchemy URL of the goldloop database, starting the embedded server if needed."""
    explicit = os.environ.get("DATABASE_URL")
    if explicit:
        return sqlalchemy_url(explicit)
    server = embedded_server()
    _ensure_database(server.get_uri(), EMBEDDED_DATABASE)
    return sqlalchemy_url(server.get_uri(database=EMBEDDED_DATABASE))


@lru_cache(maxsize=None)
def _engine_for(url: str) -> Engine:
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    migrate(engine)
    return engine


def reset_engines() -> None:
    """Forget every engine made so far (a process that switches ``DATABASE_URL``, such as the
    test suite between databases, gets a fresh, migrated engine on the next ``get_engine``)."""
    _engine_for.cache_clear()


def get_engine() -> Engine:
    """Return the process-wide engine for the goldloop database, with the schema up to date."""
    try:
        return _engine_for(database_url())
    except sa.exc.OperationalError as exc:
        raise GoldloopError(f"cannot connect to PostgreSQL ({_redacted(database_url())}): {exc.orig}") from exc


def _redacted(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def migration_files() -> list[Path]:
    """The schema migrations in ``sql/``, in the order they apply."""
    files = sorted(p for p in SQL_DIR.glob("*.sql") if _MIGRATION_NAME.match(p.name))
    numbers = [p.name[:3] for p in files]
    if len(set(numbers)) != len(numbers):
        raise GoldloopError(f"two migrations in {SQL_DIR} share a number: {numbers}")
    return files


def migrate(engine: Engine) -> list[str]:
    """Apply every migration not yet recorded; return the names of those applied now."""
    applied_now: list[str] = []
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        conn.exec_driver_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = dict(conn.execute(sa.text("SELECT version, checksum FROM schema_migrations")).all())
        for path in migration_files():
            sql = path.read_text(encoding="utf-8")
            checksum = hashlib.sha256(sql.encode()).hexdigest()
            version = path.name[:3]
            if version in done:
                if done[version] != checksum:
                    raise GoldloopError(
                        f"migration {path.name} changed after it was applied; add a new migration instead"
                    )
                continue
            with conn.connection.cursor() as cursor:  # raw DBAPI: the file may hold many statements
                cursor.execute(sql)
            conn.execute(
                sa.text("INSERT INTO schema_migrations (version, name, checksum) VALUES (:v, :n, :c)"),
                {"v": version, "n": path.name, "c": checksum},
            )
            applied_now.append(path.name)
    return applied_now


def vacuum_analyze(engine: Engine) -> None:
    """Refresh the planner's statistics (and visibility map) after a bulk load, so queries are
    planned as on a database in use; VACUUM cannot run inside a transaction, hence autocommit."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("VACUUM ANALYZE"))
