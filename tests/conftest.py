"""Shared fixtures: a real embedded PostgreSQL for the session and a fresh database per test.

Each test gets its own database cloned from a migrated template (fast), exposed through
``DATABASE_URL`` so code under test and ``bin/*.sh`` subprocesses all use it, and its own
``GOLDLOOP_HOME`` for exports and models.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pgserver
import pytest
import sqlalchemy as sa

from datasets.store import db
from models import encoder, tuning_job

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_DB = "goldloop_template"
_db_numbers = itertools.count()


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """Start an embedded PostgreSQL for the whole session; yield an admin URL; delete it after.

    The data directory lives outside pytest's temp root: pytest makes that root private (0700)
    at every session start, which would lock the server's own system user out of a running server.
    """
    pgdata = Path(tempfile.mkdtemp(prefix="goldloop-test-pg-")) / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    admin = db.sqlalchemy_url(server.get_uri())
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {TEMPLATE_DB}")
    engine.dispose()
    template = sa.create_engine(db.sqlalchemy_url(server.get_uri(database=TEMPLATE_DB)))
    db.migrate(template)
    template.dispose()
    yield admin
    server.cleanup()
    shutil.rmtree(pgdata.parent, ignore_errors=True)


@pytest.fixture()
def database_url(pg_admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated database for one test, exported as ``DATABASE_URL``."""
    name = f"t{os.getpid()}_{next(_db_numbers)}"
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    url = sa.engine.make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    db.reset_engines()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


@pytest.fixture(autouse=True)
def no_tuning_job_outlives_its_test() -> Iterator[None]:
    """Kill background encoder tunings a test started and left running, so none of them keeps
    working in a deleted workspace while later tests run."""
    yield
    tuning_job.stop_started()


@pytest.fixture()
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private ``GOLDLOOP_HOME`` for one test."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("GOLDLOOP_HOME", str(path))
    return path


@pytest.fixture()
def engine(database_url: str, home: Path) -> sa.engine.Engine:
    """SQLAlchemy engine on the test's database (schema applied), with a private workspace."""
    return db.get_engine()


@pytest.fixture()
def encode_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the posts ``embed`` hands to the real ``encode``."""
    calls: list[int] = []
    real = encoder.encode

    def counting(texts, *args, **kwargs):
        calls.append(len(texts))
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(encoder, "encode", counting)
    return calls
