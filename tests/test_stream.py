"""bin/stream.sh on real PostgreSQL, real files and a real promoted model: a worker killed with
SIGKILL mid-run and restarted loses nothing and classifies nothing twice; posts from any
ingestion are classified; a new production model is picked up; bad input is refused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import sqlalchemy as sa

from datasets.ingest import ingest_paths
from datasets.store import sql, stream
from labeling.task import Task
from models.sources import DropDirectory
from models.stream import Worker
from tests.support.feeds import drop, promote, tweet, wait_for
from tests.support.registry import Trained, train_runs
from tests.support.sessions import child_env, wait_for_sessions_to_end

STREAM = str(Path(__file__).resolve().parent.parent / "bin" / "stream.sh")
LINKS = ["https://spam.example/win?utm_source=x", "https://news.example.org/a", "https://www.news.example.org/a#c"]
WAIT_S = 120.0  # longest wait for the stream worker (a subprocess) to reach a state


def _lines(start: int, n: int) -> list[str]:
    """Posts ``start .. start+n-1``: spam-like and ham-like texts, each with one or two links."""
    return [tweet(i, [LINKS[i % 3], LINKS[(i + 1) % 3]] if i % 5 == 0 else [LINKS[i % 3]],
                  text=f"subscribe to my channel {i}" if i % 2 else f"love this song {i}")
            for i in range(start, start + n)]


def _scalar(engine, query: str, **bind) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text(query), bind).scalar_one()


def _predicted(engine, task: str) -> dict[str, tuple[str, object]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT post_id, run_ref, created_at FROM predictions"
                                    " WHERE task = :t AND source = 'production'"), {"t": task}).all()
    return {post_id: (run_ref, created) for post_id, run_ref, created in rows}


def _start(task_path: Path, drop_dir: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([STREAM, "--task", str(task_path), "--drop-dir", str(drop_dir), "--quiet", "--json",
                             "--poll", "0.2", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env())


def _promoted(engine, tmp_path: Path, runs: int) -> tuple[Trained, Task, Path]:
    """The world's task with ``runs`` trained runs, the first promoted, and an empty drop directory."""
    trained = train_runs(engine, tmp_path, n=runs)
    promote(engine, trained.world.task.name, trained.runs[0])
    drop_dir = tmp_path / "drop"
    drop_dir.mkdir()
    return trained, trained.world.task, drop_dir


def test_sigkill_mid_run_then_restart_loses_nothing_and_classifies_nothing_twice(engine, tmp_path):
    trained, task, drop_dir = _promoted(engine, tmp_path, 1)
    worker = _start(task.path, drop_dir, "--batch-size", "20")
    try:
        wait_for(lambda: _scalar(engine, "SELECT count(*) FROM streams WHERE task = :t", t=task.name) == 1,
                 worker, "the stream's registration", WAIT_S)
        files, per_file = 30, 40
        for f in range(files):
            drop(drop_dir, f"feed-{f:03d}.jsonl", _lines(f * per_file, per_file))
        wait_for(lambda: len(_predicted(engine, task.name)) >= 200, worker, "predictions before the kill", WAIT_S)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
    finally:
        if worker.poll() is None:
            worker.kill()
    wait_for_sessions_to_end(engine)  # a batch whose COMMIT was sent still lands
    before = _predicted(engine, task.name)
    total = files * per_file
    assert 200 <= len(before) < total  # killed mid-run

    # posts stored by another ingestion while no worker runs are queued too
    other = drop(tmp_path, "other.jsonl", _lines(total, 25))
    ingest_paths([other], progress=False)

    again = subprocess.run([STREAM, "--task", str(task.path), "--drop-dir", str(drop_dir), "--quiet", "--json",
                            "--once", "--settle", "0"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    after = _predicted(engine, task.name)
    new_ids = {str(1000 + i) for i in range(total + 25)}
    assert set(after) == new_ids  # every post once (the table's key), none left out
    assert all(after[p] == before[p] for p in before)  # nothing classified before the kill was classified again
    assert summary["classified"] == len(new_ids) - len(before)
    assert summary["pending"] == 0 and summary["runs"] == [trained.runs[0]]
    assert {run_ref for run_ref, _ in after.values()} == {str(trained.runs[0])}
    assert _scalar(engine, "SELECT count(*) FROM stream_inbox") == 0
    assert sorted(p.name for p in (drop_dir / "done").iterdir()) == [f"feed-{f:03d}.jsonl" for f in range(files)]
    assert not [p for p in drop_dir.iterdir() if p.is_file()]
    # every link counted once per post that carries it, and per predicted label
    expected = {"https://spam.example/win": 0, "https://news.example.org/a": 0, "https://www.news.example.org/a": 0}
    for i in range(total + 25):
        for link in {LINKS[i % 3], LINKS[(i + 1) % 3]} if i % 5 == 0 else {LINKS[i % 3]}:
            expected[link.split("?")[0].split("#")[0]] += 1
    with engine.connect() as conn:
        stored = dict(conn.execute(sa.text("SELECT url, n_posts FROM urls")).all())
        by_label = conn.execute(sa.text(
            "SELECT count(*) FROM post_urls pu JOIN predictions p ON p.post_id = pu.post_id AND p.task = :t"
            " AND p.source = 'production'"), {"t": task.name}).scalar_one()
    assert stored == expected
    assert by_label == sum(expected.values())


def test_worker_reloads_a_newly_promoted_model_and_classifies_posts_of_any_ingestion(engine, tmp_path):
    trained, task, drop_dir = _promoted(engine, tmp_path, 2)
    worker = Worker(engine, task, [DropDirectory(drop_dir, settle_s=0)], batch_size=7)
    with sql.transaction(engine) as conn:
        assert stream.register(conn, task.name)
        assert not stream.register(conn, task.name)
    drop(drop_dir, "a.jsonl", _lines(0, 10))
    assert worker.pull() == 1
    assert worker.classify_batch() == 7 and worker.classify_batch() == 3 and worker.classify_batch() == 0
    promote(engine, task.name, trained.runs[1])
    worker.reload_check_s = 0
    worker.refresh_model()
    assert worker.model.run_id == trained.runs[1] and worker.runs == trained.runs
    ingest_paths([drop(tmp_path, "b.jsonl", _lines(10, 5))], progress=False)
    assert worker.classify_batch() == 5
    refs = {post_id: ref for post_id, (ref, _) in _predicted(engine, task.name).items()}
    assert {refs[str(1000 + i)] for i in range(10)} == {str(trained.runs[0])}
    assert {refs[str(1000 + i)] for i in range(10, 15)} == {str(trained.runs[1])}
    with engine.connect() as conn:
        probs = conn.execute(sa.text("SELECT probs, label, version FROM predictions WHERE task = :t"
                                     " AND source = 'production' LIMIT 1"), {"t": task.name}).one()
    assert set(probs.probs) == set(task.labels) and probs.label in task.labels and probs.version is None

    # the posts of the world's split version predate the stream: not queued, not classified
    assert _scalar(engine, "SELECT count(*) FROM predictions WHERE source = 'production' AND post_id LIKE 'p%'") == 0
    # unregistering stops queueing and drops what waits
    ingest_paths([drop(tmp_path, "c.jsonl", _lines(15, 4))], progress=False)
    done = subprocess.run([STREAM, "--task", str(task.path), "--unregister", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"task": task.name, "dropped": 4}
    ingest_paths([drop(tmp_path, "d.jsonl", _lines(19, 4))], progress=False)
    assert _scalar(engine, "SELECT count(*) FROM stream_inbox") == 0


def test_bad_files_and_bad_options_are_refused_naming_them(engine, tmp_path):
    trained = train_runs(engine, tmp_path, n=1)
    task = trained.world.task
    drop_dir = tmp_path / "drop"
    drop_dir.mkdir()
    no_model = subprocess.run([STREAM, "--task", str(task.path), "--once"], capture_output=True, text=True, timeout=120)
    assert no_model.returncode == 1 and "no production model" in no_model.stderr
    assert _scalar(engine, "SELECT count(*) FROM streams") == 0  # nothing queued for a stream that cannot run
    promote(engine, task.name, trained.runs[0])
    for args, named in ((["--drop-dir", str(tmp_path / "missing")], "--drop-dir"), (["--batch-size", "0"], "--batch-size"),
                        (["--poll", "0"], "--poll"), (["--settle", "-1"], "--settle"), (["--poll", "x"], "--poll")):
        done = subprocess.run([STREAM, "--task", str(task.path), "--once", *args], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1 and named in done.stderr and "Traceback" not in done.stderr, (args, done.stderr)

    (drop_dir / "notes.docx").write_bytes(b"PK\x03\x04 not a feed")
    drop(drop_dir, "mixed.jsonl", [tweet(1, ["https://a.example/"]), "{not json", json.dumps({"id_str": "x"})])
    (drop_dir / ".hidden.jsonl").write_text(tweet(2) + "\n")
    (drop_dir / "half.jsonl.part").write_text(tweet(3) + "\n")
    done = subprocess.run([STREAM, "--task", str(task.path), "--drop-dir", str(drop_dir), "--once", "--json",
                           "--settle", "0", "--quiet"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["files"] == 1 and summary["failed"] == 1 and summary["inserted"] == 1 and summary["rejected"] == 2
    assert summary["classified"] == 1
    assert (drop_dir / "failed" / "notes.docx").exists()
    assert "notes.docx" in (drop_dir / "failed" / "notes.docx.error").read_text()
    rejects = [json.loads(line) for line in (drop_dir / "rejected" / "mixed.jsonl.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejects] == [2, 3]
    assert (drop_dir / ".hidden.jsonl").exists() and (drop_dir / "half.jsonl.part").exists()
