"""Strict CSV ingestion: a broken quote rejects its own line, never the rows after it (real PostgreSQL)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import sqlalchemy as sa

from datasets import readers
from datasets.ingest import ingest_paths

REPO = Path(__file__).resolve().parent.parent
INGEST = str(REPO / "bin" / "ingest.sh")


def _texts(engine: sa.Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT id, text FROM raw_posts")).all())


def _rejects(path: Path) -> dict[int, dict]:
    return {r["line"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def test_unterminated_quote_rejects_its_line_and_the_rest_of_the_file_is_ingested(engine, tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text('id,text\nc1,first\nc2,"unterminated\nc3,third\nc4,"quoted, with a comma"\n'
                    'c5,"two\nlines"\nc6,"closed"then text\nc7,"never closed\nc8,last\n', encoding="utf-8")
    rejects = tmp_path / "rejects.jsonl"
    proc = subprocess.run([INGEST, str(path), "--rejects", str(rejects), "--json"], capture_output=True, text=True)
    assert proc.returncode == 2, proc.stderr  # partial success
    result = json.loads(proc.stdout)
    assert (result["read"], result["inserted"], result["rejected"]) == (8, 5, 3)
    assert _texts(engine) == {"c1": "first", "c3": "third", "c4": "quoted, with a comma", "c5": "two\nlines",
                              "c8": "last"}
    listed = _rejects(rejects)
    assert set(listed) == {3, 8, 9}
    assert all(r["file"] == str(path) for r in listed.values())
    assert "unterminated quote" in listed[3]["reason"] and listed[3]["snippet"] == 'c2,"unterminated'
    assert "unterminated quote" in listed[9]["reason"] and "end of data" in listed[9]["reason"]
    assert "invalid CSV" in listed[8]["reason"] and "unterminated" not in listed[8]["reason"]
    with engine.connect() as conn:
        lines = dict(conn.execute(sa.text("SELECT id, source_line FROM raw_posts")).all())
    assert lines == {"c1": 2, "c3": 4, "c4": 5, "c5": 6, "c8": 10}


def test_a_quote_running_past_the_record_limit_is_cut_there_and_reading_resumes(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 200)
    lines = ["id,text", 'a1,"opens a quote that never closes'] + [f"a{i},row {i} " + "x" * 30 for i in range(2, 12)]
    path = tmp_path / "long.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rejects = tmp_path / "r.jsonl"
    result = ingest_paths([path], rejects_path=rejects, progress=False)
    assert (result.inserted, result.rejected) == (10, 1)
    assert set(_texts(engine)) == {f"a{i}" for i in range(2, 12)}
    reason = _rejects(rejects)[2]["reason"]
    assert "unterminated quote" in reason and "longer than 200 characters" in reason


def test_a_single_line_over_the_limit_is_rejected_and_the_next_line_read(engine, tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_RECORD_BYTES", 100)
    path = tmp_path / "wide.csv"
    path.write_text("id,text\nw1," + "y" * 500 + "\nw2,short\n", encoding="utf-8")
    rejects = tmp_path / "r.jsonl"
    result = ingest_paths([path], rejects_path=rejects, progress=False)
    assert (result.inserted, result.rejected) == (1, 1) and set(_texts(engine)) == {"w2"}
    assert _rejects(rejects)[2]["reason"] == "invalid CSV: record longer than 100 characters"

