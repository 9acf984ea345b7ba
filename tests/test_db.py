"""The schema applies cleanly, is recorded, re-applies harmlessly, and keeps labels append-only."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from datasets.store import db


def test_migrations_are_recorded_and_idempotent(engine: sa.engine.Engine) -> None:
    with engine.connect() as conn:
        recorded = conn.execute(sa.text("SELECT name FROM schema_migrations ORDER BY version")).scalars().all()
    assert recorded == [p.name for p in db.migration_files()]
    assert db.migrate(engine) == []


def test_human_labels_are_append_only(engine: sa.engine.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO raw_posts (id, text) VALUES ('1', 'hello')"))
        conn.execute(sa.text(
            "INSERT INTO human_labels (task, post_id, action, label, annotator, source)"
            " VALUES ('t', '1', 'label', 'AI', 'ann', 'tagger')"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE human_labels SET label = 'NOT_AI'"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM human_labels"))


def test_golden_label_follows_undo_agreement_and_resolution(engine: sa.engine.Engine) -> None:
    def add(conn, action, label, annotator, undoes=None):
        return conn.execute(sa.text(
            "INSERT INTO human_labels (task, post_id, action, label, annotator, source, undoes)"
            " VALUES ('t', '1', :a, :l, :n, 'tagger', :u) RETURNING id"),
            {"a": action, "l": label, "n": annotator, "u": undoes}).scalar_one()

    def golden(conn):
        return conn.execute(sa.text("SELECT label, conflict FROM golden_labels WHERE post_id = '1'")).one()

    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO raw_posts (id, text) VALUES ('1', 'hello')"))
        first = add(conn, "label", "AI", "ann")
        assert tuple(golden(conn)) == ("AI", False)
        add(conn, "undo", None, "ann", undoes=first)
        assert conn.execute(sa.text("SELECT count(*) FROM golden_labels")).scalar() == 0
        add(conn, "label", "NOT_AI", "ann")
        add(conn, "label", "AI", "bob")
        assert tuple(golden(conn)) == (None, True)
        add(conn, "resolve", "AI", "lead")
        assert tuple(golden(conn)) == ("AI", False)
