"""bin/stream.sh --engine spark on Spark local[2], real PostgreSQL, real files and a promoted
model: the same predictions, links and rejects as the default engine; a restart or a replayed
micro-batch classifies nothing again; a driver killed with SIGKILL mid-stream and restarted
from its checkpoint leaves every post with exactly one prediction and every link counted once."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from tqdm import tqdm

from datasets import spark
from datasets.store import sql, stream
from models.sources import DropDirectory
from models.stream import Worker
from models.stream_spark import SparkStream
from tests.support.feeds import drop, promote, tweet, wait_for
from tests.support.registry import train_runs
from tests.support.sessions import child_env, wait_for_sessions_to_end

STREAM = str(Path(__file__).resolve().parent.parent / "bin" / "stream.sh")
MASTER = "local[2]"
LINKS = ["https://spam.example/win?utm_source=x", "https://news.example.org/a"]
WAIT_S = 300.0  # longest wait for the Spark stream (JVM start, workers importing TensorFlow)
pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark_session():
    """A ``local[2]`` session for the in-process tests (stopped at the module's end)."""
    with spark.session(MASTER, "goldloop tests") as session:
        yield session


def _lines(start: int, n: int) -> list[str]:
    return [tweet(i, LINKS if i % 4 == 0 else LINKS[i % 2:i % 2 + 1],
                  text=f"subscribe to my channel {i}" if i % 2 else f"love this song {i}")
            for i in range(start, start + n)]


def _predictions(engine) -> dict[str, tuple[str, str, dict[str, float]]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT post_id, run_ref, label, probs FROM predictions"
                                    " WHERE source = 'production'")).all()
    return {post_id: (run_ref, label, probs) for post_id, run_ref, label, probs in rows}


def _scalar(engine, query: str, **bind):
    with engine.connect() as conn:
        return conn.execute(sa.text(query), bind).scalar_one()


def _rejects(directory: Path) -> list[tuple[str, int, str]]:
    return sorted((Path(r["file"]).name, r["line"], r["reason"]) for path in directory.glob("*.jsonl")
                  for r in map(json.loads, path.read_text().splitlines()))


def _feed(drop_dir: Path) -> set[str]:
    """Two files to ingest (one broken line, a duplicate id, a CSV) and one still being written;
    returns the ids of the posts they hold."""
    lines = _lines(0, 30)
    lines[7] = "{not json"
    lines.append(_lines(3, 1)[0])  # a duplicate id within the file
    drop(drop_dir, "a.jsonl", lines)
    (drop_dir / "b.csv").write_text("id,text\nc1,a csv post https://example.org/x\nc2,subscribe to my channel\n")
    (drop_dir / "c.jsonl.tmp").write_text(_lines(100, 3)[0])
    return {str(1000 + i) for i in range(30) if i != 7} | {"c1", "c2"}


def test_same_predictions_as_the_default_engine_once_across_restarts_and_replays(engine, tmp_path, spark_session):
    trained = train_runs(engine, tmp_path, n=1)
    task = trained.world.task
    promote(engine, task.name, trained.runs[0])
    default_dir, spark_dir = tmp_path / "default", tmp_path / "spark"
    default_dir.mkdir()
    spark_dir.mkdir()
    ids = _feed(default_dir)
    _feed(spark_dir)

    worker = Worker(engine, task, [DropDirectory(default_dir, settle_s=0)])
    with sql.transaction(engine) as conn:
        stream.register(conn, task.name)
    while worker.pull() + worker.classify_batch():
        pass
    expected = _predictions(engine)
    assert set(expected) == ids
    with engine.connect() as conn:
        links = conn.execute(sa.text("SELECT post_id, url FROM post_urls ORDER BY 1, 2")).all()
    with engine.begin() as conn:  # the same posts again, for the Spark engine
        conn.execute(sa.text("DELETE FROM predictions WHERE post_id = ANY(:ids)"), {"ids": list(ids)})
        conn.execute(sa.text("DELETE FROM raw_posts WHERE id = ANY(:ids)"), {"ids": list(ids)})

    checkpoint = tmp_path / "checkpoint"
    first = SparkStream(MASTER, engine, task, spark_dir, checkpoint, max_files=1)
    first.run(poll_s=0.25, once=True, bar=tqdm(disable=True))
    stored = _predictions(engine)
    assert set(stored) == ids
    for post_id, (run_ref, label, probs) in stored.items():
        assert (run_ref, label) == expected[post_id][:2], post_id
        assert probs.keys() == expected[post_id][2].keys()
        assert np.allclose([probs[k] for k in probs], [expected[post_id][2][k] for k in probs], atol=1e-5), post_id
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT post_id, url FROM post_urls ORDER BY 1, 2")).all() == links
    assert _scalar(engine, "SELECT count(*) FROM stream_inbox") == 0  # the registered inbox was emptied too
    assert (first.classified, first.pulled.files, first.pulled.inserted, first.pulled.rejected) == (len(ids), 2,
                                                                                                    len(ids), 1)
    assert first.runs == [trained.runs[0]]
    rejects = _rejects(spark_dir / "rejected")
    assert rejects == _rejects(default_dir / "rejected") and [r[:2] for r in rejects] == [("a.jsonl", 8)]
    assert sorted(p.name for p in (spark_dir / "done").iterdir()) == ["a.jsonl", "b.csv"]
    assert [p.name for p in spark_dir.iterdir() if p.is_file()] == ["c.jsonl.tmp"]
    assert _scalar(engine, "SELECT count(*) FROM spark_stream_files WHERE task = :t", t=task.name) == 2

    again = SparkStream(MASTER, engine, task, spark_dir, checkpoint, max_files=1)
    again.run(poll_s=0.25, once=True, bar=tqdm(disable=True))
    assert (again.classified, again.pulled.files) == (0, 0)

    # a replayed micro-batch (the driver died between a file's commit and Spark's) skips the file
    batch_id = _scalar(engine, "SELECT batch_id FROM spark_stream_files WHERE file = 'a.jsonl'")
    shutil.copy(spark_dir / "done" / "a.jsonl", spark_dir / "a.jsonl")
    frame = spark_session.read.format("binaryFile").load(str(spark_dir / "a.jsonl")).select("path")
    again.batch(frame, batch_id)
    assert (again.classified, again.pulled.files) == (0, 0) and not (spark_dir / "a.jsonl").exists()
    # the same file in another micro-batch (a new checkpoint): ingested again, every post a duplicate
    shutil.copy(spark_dir / "done" / "a.jsonl", spark_dir / "a.jsonl")
    again.batch(frame, batch_id + 100)
    assert (again.classified, again.pulled.files, again.pulled.inserted) == (0, 1, 0)
    assert _predictions(engine) == stored


def _start(task_path: Path, drop_dir: Path, checkpoint: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([STREAM, "--task", str(task_path), "--drop-dir", str(drop_dir), "--engine", "spark",
                             "--master", MASTER, "--checkpoint", str(checkpoint), "--quiet", "--json", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())


def test_driver_killed_mid_stream_then_restarted_from_its_checkpoint_classifies_every_post_once(engine, tmp_path):
    trained = train_runs(engine, tmp_path, n=1)
    task = trained.world.task
    promote(engine, task.name, trained.runs[0])
    drop_dir, checkpoint = tmp_path / "drop", tmp_path / "checkpoint"
    drop_dir.mkdir()
    files, per_file = 24, 40
    for f in range(files):
        drop(drop_dir, f"feed-{f:03d}.jsonl", _lines(f * per_file, per_file))
    total = files * per_file
    worker = _start(task.path, drop_dir, checkpoint, "--max-files", "2", "--poll", "0.2")
    try:
        wait_for(lambda: len(_predictions(engine)) >= 3 * per_file, worker, "predictions before the kill", WAIT_S)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    wait_for_sessions_to_end(engine)  # a micro-batch whose COMMIT was sent still lands
    before = _predictions(engine)
    assert 3 * per_file <= len(before) < total  # killed mid-stream

    worker = _start(task.path, drop_dir, checkpoint, "--poll", "0.2")
    try:
        wait_for(lambda: len(_predictions(engine)) >= total and not list(drop_dir.glob("*.jsonl")), worker,
                 "the restart's predictions", WAIT_S)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=120)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    summary = json.loads(out)
    after = _predictions(engine)
    assert set(after) == {str(1000 + i) for i in range(total)}
    assert all(after[p] == before[p] for p in before)  # nothing classified before the kill was classified again
    assert summary["classified"] == total - len(before) and summary["runs"] == [trained.runs[0]]
    assert _scalar(engine, "SELECT count(*) FROM spark_stream_files") == files  # each file committed once
    assert sorted(p.name for p in (drop_dir / "done").iterdir()) == [f"feed-{f:03d}.jsonl" for f in range(files)]
    expected_links = sum(2 if i % 4 == 0 else 1 for i in range(total))
    assert _scalar(engine, "SELECT count(*) FROM post_urls") == expected_links
    assert _scalar(engine, "SELECT sum(n_posts) FROM urls") == expected_links
    assert dict(_rows(engine, "SELECT url, n_posts FROM urls")) == {
        "https://spam.example/win": sum(1 for i in range(total) if i % 4 == 0 or i % 2 == 0),
        "https://news.example.org/a": sum(1 for i in range(total) if i % 4 == 0 or i % 2 == 1)}


def _rows(engine, query: str) -> list:
    with engine.connect() as conn:
        return conn.execute(sa.text(query)).all()


def test_spark_options_are_checked(engine, tmp_path):
    trained = train_runs(engine, tmp_path, n=1)
    task = trained.world.task
    promote(engine, task.name, trained.runs[0])
    for args, message in ((["--engine", "spark"], "give --drop-dir DIR"),
                          (["--engine", "spark", "--drop-dir", str(tmp_path), "--settle", "1"], "--settle is for the default"),
                          (["--checkpoint", str(tmp_path)], "--checkpoint needs --engine spark"),
                          (["--engine", "spark", "--drop-dir", str(tmp_path), "--max-files", "0"], "--max-files must be"),
                          (["--engine", "spark", "--master", "local[0]", "--drop-dir", str(tmp_path)], "--master")):
        done = subprocess.run([STREAM, "--task", str(task.path), *args], capture_output=True, text=True, timeout=120,
                              check=False)
        assert done.returncode == 1 and message in done.stderr, (args, done.stderr)
