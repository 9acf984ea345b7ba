"""The Spark engine against the default one on the same small data (Spark ``local[2]``, real
PostgreSQL, real files): the same rows, URLs, rejects and counts from ``ingest``; the same label
matrix, weak labels, votes and label-model predictions from ``label``.

One Spark session serves the whole module (its JVM takes seconds to start); the commands reuse
it, and each task is pointed at the test's own database and workspace.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from datasets import ingest_synth, readers, spark
from datasets.errors import GoldloopError
from datasets.ingest import IngestResult, ingest_paths
from datasets.store import votes
from labeling import label_spark
from labeling.label import format_result, run_label
from labeling.task import TASKS_DIR, load_task
from labeling.weak_labels import weak_path
from models.data import read_weak
from tests.support.labeling import add_golden, demo_posts, make_version
from tests.support.results import check_json

REPO = Path(__file__).resolve().parent.parent
INGEST = str(REPO / "bin" / "ingest.sh")
MASTER = "local[2]"
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_session():
    """A ``local[2]`` session for the module's tests (stopped at its end)."""
    with spark.session(MASTER, "goldloop tests") as session:
        yield session


def _rows(engine: sa.Engine) -> dict[str, dict]:
    """Every stored post without its ingest batch (each run has its own)."""
    with engine.connect() as conn:
        return {row["id"]: {k: v for k, v in row.items() if k not in ("batch_id", "ingested_at")}
                for row in conn.execute(sa.text("SELECT * FROM raw_posts")).mappings()}


def _links(engine: sa.Engine) -> tuple[list, list]:
    with engine.connect() as conn:
        pairs = conn.execute(sa.text("SELECT post_id, url FROM post_urls ORDER BY 1, 2")).all()
        urls = conn.execute(sa.text("SELECT url, domain, is_media, first_seen, last_seen, n_posts FROM urls"
                                    " ORDER BY url")).all()
    return pairs, urls


def _clear(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE raw_posts, ingest_batches, urls CASCADE"))


def _inputs(tmp_path: Path) -> list[Path]:
    """Twitter statuses as JSON lines (with broken lines and a duplicate id), a gzip copy of
    some, a CSV and a parquet file: every reader, byte-split and whole-file parts."""
    lines = [json.dumps(ingest_synth.status(i)) for i in range(300)]
    lines[17] = "{not json"
    lines[150] = json.dumps(ingest_synth.status(3))  # a duplicate id
    lines.insert(200, "")
    statuses = tmp_path / "in" / "statuses.jsonl"
    statuses.parent.mkdir()
    statuses.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_synth.write_jsonl_gz(tmp_path / "in" / "more.jsonl.gz", 40, start=1000)
    (tmp_path / "in" / "generic.csv").write_text(
        "id,text,created_at\nc1,a csv post https://example.org/x,2021-01-02T03:04:05Z\nc2,\"two\nlines\",\n"
        "c3,broken,\"x\n", encoding="utf-8")
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(50)], "text": [f"parquet post {i}" for i in range(50)]}),
                   tmp_path / "in" / "rows.parquet", row_group_size=10)
    return [tmp_path / "in"]


def _rejects(result: IngestResult) -> list[dict]:
    return sorted((json.loads(line) for line in Path(result.rejects_file).read_text().splitlines()),
                  key=lambda r: (r["file"], r["line"], r["reason"]))


def test_ingest_parity_rows_urls_rejects_counts_and_rerun(engine, tmp_path, spark_session):
    inputs = _inputs(tmp_path)
    default = ingest_paths(inputs, progress=False, rejects_path=tmp_path / "default-rejects.jsonl")
    rows, links = _rows(engine), _links(engine)
    _clear(engine)

    on_spark = ingest_paths(inputs, progress=False, master=MASTER, part_bytes=20_000,
                            rejects_path=tmp_path / "spark-rejects.jsonl")
    assert _rows(engine) == rows
    assert _links(engine) == links
    assert len(rows) == default.inserted > 300
    for field in ("read", "inserted", "duplicates", "rejected", "time_warnings", "files"):
        assert getattr(on_spark, field) == getattr(default, field), field
    assert _rejects(on_spark) == _rejects(default)
    assert {(r["file"].rsplit("/", 1)[1], r["line"]) for r in _rejects(on_spark)} >= {("statuses.jsonl", 18)}
    assert not (tmp_path / "spark-rejects.jsonl.parts").exists()

    again = ingest_paths(inputs, progress=False, master=MASTER, part_bytes=20_000,
                         rejects_path=tmp_path / "again.jsonl")
    assert (again.inserted, again.duplicates) == (0, default.inserted + default.duplicates)
    assert _rows(engine) == rows and _links(engine) == links
    with engine.connect() as conn:
        batch = conn.execute(sa.text("SELECT status, read, inserted, duplicates, rejected FROM ingest_batches"
                                     " WHERE id = :id"), {"id": on_spark.batch_id}).one()
    assert tuple(batch) == ("done", on_spark.read, on_spark.inserted, on_spark.duplicates, on_spark.rejected)


def test_byte_parts_start_at_lines_and_are_numbered(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(f'{{"id": "{i}", "text": "{"x" * (i % 7)}"}}\n' for i in range(100)))
    source = readers.open_source(path)
    parts = source.parts(64)
    assert len(parts) > 10 and parts[0].start == 0 and parts[-1].stop == source.size
    numbered = readers.number_parts(parts, [source.count_lines(p) for p in parts])
    got = [item for part in numbered for item in source.records(part)]
    assert got == list(source.records())


def test_cli_engine_spark_and_bad_options(engine, tmp_path):
    path = tmp_path / "posts.jsonl"
    ingest_synth_lines = [json.dumps(ingest_synth.status(i)) for i in range(20)]
    path.write_text("\n".join(ingest_synth_lines) + "\n")
    env_run = dict(capture_output=True, text=True, timeout=300)
    done = subprocess.run([INGEST, str(tmp_path / "*.jsonl"), "--engine", "spark", "--master", MASTER, "--json",
                           "--quiet"], **env_run)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    check_json(printed, IngestResult, "ingest")
    assert (printed["read"], printed["inserted"], printed["files"]) == (20, 20, [str(path)])
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM raw_posts")).scalar_one() == 20

    for args, message in (([str(path), "--master", MASTER], "--master needs --engine spark"),
                          ([str(path), "--engine", "spark", "--master", "mesos://x"], "--master: 'mesos://x'"),
                          ([str(path), "--engine", "spark", "--master", "local[0]"], "--master: 'local[0]'"),
                          ([str(tmp_path / "none-*.jsonl"), "--engine", "spark"], "no file matches")):
        bad = subprocess.run([INGEST, *args], **env_run)
        assert bad.returncode == 1 and message in bad.stderr, bad.stderr


def test_a_task_error_is_reported_as_itself(engine, tmp_path, spark_session):
    path = tmp_path / "cut.jsonl.gz"
    ingest_synth.write_jsonl_gz(path, 2000)
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(GoldloopError, match="cut.jsonl.gz: cannot read the file"):
        ingest_paths([path], progress=False, master=MASTER)


def _stored_run(engine: sa.Engine, run_id: int) -> tuple[votes.RunVotes, dict[str, dict]]:
    with engine.connect() as conn:
        stored = votes.run_votes(conn, run_id)
        found = {row["post_id"]: (row["label"], row["probs"]) for row in conn.execute(sa.text(
            "SELECT post_id, label, probs FROM predictions WHERE task = 'ai_tweets' AND source = 'label_model'"
            " AND run_ref = :ref"), {"ref": str(run_id)}).mappings()}
    return stored, found


def _weak(version: int) -> dict[str, pd.DataFrame]:
    return {split: pd.read_parquet(weak_path(version, "ai_tweets", split)).sort_values("id").reset_index(drop=True)
            for split in ("train", "lf")}


def test_label_parity_matrix_weak_labels_votes_and_predictions(engine, tmp_path, spark_session):
    posts, gold = demo_posts(40)  # 240 posts
    ids = [p["id"] for p in posts]
    version = make_version(engine, tmp_path, posts, test_ids=ids[:48], dev_ids=ids[48:96], lf=60)
    add_golden(engine, "ai_tweets", {i: gold[i] for i in ids[:130]})  # test, dev and some LF/train posts

    default = run_label(TASKS_DIR / "ai_tweets.toml", None, seed=3, progress=False)
    default_votes, default_predictions = _stored_run(engine, default.run_id)
    default_weak = _weak(version)
    assert Path(default.outputs["train_weak"]).is_file()

    on_spark = run_label(TASKS_DIR / "ai_tweets.toml", None, seed=3, progress=False, master=MASTER)
    spark_votes, spark_predictions = _stored_run(engine, on_spark.run_id)
    assert spark_votes.post_ids == default_votes.post_ids and len(spark_votes.post_ids) == 240
    np.testing.assert_array_equal(spark_votes.matrix, default_votes.matrix)  # the same label matrix
    assert (spark_votes.matrix >= 0).any() and default.clusters and on_spark.clusters == default.clusters
    assert spark_predictions == default_predictions and len(spark_predictions) > 100
    for split, frame in _weak(version).items():
        assert Path(on_spark.outputs[f"{split}_weak"]).is_dir()  # parquet parts
        pd.testing.assert_frame_equal(frame, default_weak[split])
    for field in ("lf_summary", "lf_golden", "label_model", "majority_vote", "weak_targets", "counts", "coverage",
                  "golden"):
        assert getattr(on_spark, field) == getattr(default, field), field
    assert on_spark.label_model_fit == default.label_model_fit == {"rows": 144, "of": 144, "sampled": False}
    assert (on_spark.params["engine"], default.params["engine"]) == ("spark", "default")
    # the end model's reader takes the directories as it takes the files
    assert len(read_weak(version, load_task(TASKS_DIR / "ai_tweets.toml"), ["train", "lf"])) == 144

    again = run_label(TASKS_DIR / "ai_tweets.toml", None, seed=3, progress=False)  # default over Spark's output
    assert Path(again.outputs["train_weak"]).is_file()
    pd.testing.assert_frame_equal(_weak(version)["train"], default_weak["train"])


def test_label_model_fit_on_a_bounded_sample_says_so(engine, tmp_path, spark_session, monkeypatch):
    posts, _ = demo_posts(20)
    make_version(engine, tmp_path, posts, lf=30)
    monkeypatch.setattr(label_spark, "FIT_SAMPLE_ROWS", 50)
    result = run_label(TASKS_DIR / "ai_tweets.toml", None, progress=False, master=MASTER)
    assert result.label_model_fit["sampled"] and result.label_model_fit["of"] == 120
    assert 0 < result.label_model_fit["rows"] <= 50
    assert "random sample" in format_result(result)
    assert result.counts == {"test": 0, "dev": 0, "lf": 30, "train": 90}
