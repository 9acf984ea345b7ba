"""Benchmark: the stream worker (``bin/stream.sh``) on files dropped while it runs.

In a scratch workspace with its own embedded PostgreSQL (``DATABASE_URL`` is ignored): a task
with a small trained model (TF-IDF + softmax by default, ``--architecture``) promoted to
production, then a real worker subprocess watching a drop directory, fed synthetic Twitter v1.1
statuses (``datasets.ingest_synth``, a quarter with a link) written as collectors write them
(temporary name, then rename). Three phases:

1. throughput: ``--posts`` statuses dropped at once as ``--files`` files; posts/s from the first
   drop to the last prediction stored (target: at least 2,000 posts/s);
2. latency: ``--rate`` posts/s for ``--seconds`` s, one file every 0.1 s; per post, the time
   from its file's rename to its prediction's ``created_at`` (target: p95 under 2 s at 500/s);
3. SIGKILL: ``--kill-posts`` statuses dropped, the worker killed with SIGKILL once some are
   classified, a new worker started; then every new post must have exactly one prediction, by
   the production run, none classified twice (predictions stored before the kill unchanged),
   the inbox empty and every link counted once per post (``urls.n_posts`` = ``post_urls``
   rows = the links of the stored posts, normalised again here).

With ``--engine spark`` (and ``--master``) the worker is ``bin/stream.sh --engine spark``, a
Structured Streaming query over the drop directory with its checkpoint in the scratch
workspace; the SIGKILL kills its driver, and the restart resumes from the checkpoint.

    .venv/bin/python bench/stream.py [--posts 100000] [--files 100] [--rate 500] [--seconds 20]
                                     [--kill-posts 20000] [--architecture tfidf] [--engine spark
                                     [--master local[2]]] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets import ingest_synth, jsonout  # noqa: E402

TASK = """name = "streambench"
labels = ["other", "ai"]
"""
# Words of the training texts: a post is "ai" when at least 4 of its 12 words are AI words.
_AI_WORDS = ("data", "science", "machine", "learning", "model", "deep", "neural", "network", "python", "training")
_OTHER_WORDS = ("big", "game", "plan", "sleep", "weather", "coffee", "music", "video", "friends", "weekend")


def _lines(start: int, n: int) -> str:
    return "".join(json.dumps(ingest_synth.status(i)) + "\n" for i in range(start, start + n))


def _drop(directory: Path, name: str, text: str) -> float:
    """Write ``text`` as collectors do (temporary name, rename); returns the time of the rename."""
    tmp = directory / f"{name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, directory / name)
    return time.time()


def _setup(home: Path, architecture: str) -> tuple[Path, int]:
    """Train a small model on synthetic texts, record it as a train run and promote it."""
    from datasets.splits import create_version
    from datasets.store import db, posts, registry, runs, sql
    from labeling.task import load_task
    from models.classifier import TextClassifier
    from models.params import TrainParams
    from models.train import run_dir

    task_path = home / "streambench.toml"
    task_path.write_text(TASK)
    task = load_task(task_path)
    rng = np.random.default_rng(0)
    words = np.array(_AI_WORDS + _OTHER_WORDS)
    texts = [" ".join(rng.choice(words, 12)) + f" n{i}" for i in range(3000)]
    labels = [int(sum(w in _AI_WORDS for w in t.split()) >= 4) for t in texts]
    engine = db.get_engine()
    with sql.transaction(engine) as conn:
        posts.add_bare(conn, [(f"train{i}", t) for i, t in enumerate(texts)])
    version = create_version(engine, test=300, dev=0, lf=300, seed=0, progress=False).version
    clf = TextClassifier(task.labels, TrainParams(architecture=architecture)).fit(texts, labels)
    with sql.transaction(engine) as conn:
        run_id = runs.record(conn, task=task.name, task_hash=task.sha256, version=version, kind="train",
                             params={"architecture": architecture}, metrics={})
        path = run_dir(task, run_id)
        clf.save(path)
        runs.set_model_path(conn, run_id, str(path))
        registry.append(conn, task=task.name, action="promote", run_id=run_id, previous_run_id=None, actor="bench",
                        reason="bench/stream.py", forced=True, comparison={})
    return task_path, run_id


class _Db:
    """The few counts the benchmark polls (read-only SQL through the store's engine)."""

    def __init__(self) -> None:
        import sqlalchemy as sa

        from datasets.store import db

        self.sa, self.engine = sa, db.get_engine()

    def scalar(self, query: str, **bind) -> object:
        with self.engine.connect() as conn:
            return conn.execute(self.sa.text(query), bind).scalar_one()

    def rows(self, query: str, **bind) -> list:
        with self.engine.connect() as conn:
            return conn.execute(self.sa.text(query), bind).all()

    def predicted(self) -> int:
        return int(self.scalar("SELECT count(*) FROM predictions WHERE source = 'production'"))


def _wait(condition, worker: subprocess.Popen, what: str, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited ({worker.returncode}) waiting for {what}: {worker.stderr.read()}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


def _worker(task_path: Path, drop: Path, env: dict, log: Path, engine: list[str]) -> subprocess.Popen:
    return subprocess.Popen([str(REPO / "bin" / "stream.sh"), "--task", str(task_path), "--drop-dir", str(drop),
                             "--quiet", "--json", *engine], stdout=subprocess.PIPE, stderr=log.open("a"), env=env,
                            text=True)


def _ready(store: _Db, checkpoint: Path, spark: bool):
    """When the worker is ready: its stream registered (default engine), or its query started
    (Spark: the checkpoint's metadata file is written when the query starts)."""
    if spark:
        return lambda: (checkpoint / "metadata").exists()
    return lambda: store.scalar("SELECT count(*) FROM streams") == 1


def _stop(worker: subprocess.Popen) -> dict:
    worker.send_signal(signal.SIGTERM)
    out, _ = worker.communicate(timeout=120)
    return json.loads(out) if out.strip() else {}


def run(args: argparse.Namespace, home: Path) -> dict:
    from datasets import urls as links
    from datasets.store import db

    task_path, run_id = _setup(home, args.architecture)
    env = dict(os.environ, DATABASE_URL=db.database_url(), PYTHONPATH=str(REPO))
    drop = home / "drop"
    drop.mkdir()
    log = home / "worker.log"
    store = _Db()
    checkpoint = home / "checkpoint"
    spark = args.engine == "spark"
    engine = ["--engine", "spark", "--master", args.master, "--checkpoint", str(checkpoint)] if spark else []
    worker = _worker(task_path, drop, env, log, engine)
    started = time.time()
    _wait(_ready(store, checkpoint, spark), worker, "the worker's start")
    startup = time.time() - started

    # 1. throughput
    per_file = args.posts // args.files
    payloads = [_lines(f * per_file, per_file) for f in range(args.files)]
    first = time.time()
    for f, text in enumerate(payloads):
        _drop(drop, f"bulk-{f:05d}.jsonl", text)
    dropped = time.time() - first
    _wait(lambda: store.predicted() >= per_file * args.files, worker, "phase 1's predictions")
    last = store.scalar("SELECT max(created_at) FROM predictions WHERE source = 'production'").timestamp()
    throughput = {"posts": per_file * args.files, "files": args.files, "drop_seconds": round(dropped, 2),
                  "seconds": round(last - first, 2), "posts_per_s": round(per_file * args.files / (last - first), 1)}

    # 2. latency at a steady rate
    start = per_file * args.files
    per_tick = max(1, args.rate // 10)
    ticks = int(args.seconds * 10)
    written: dict[int, float] = {}
    clock = time.monotonic()
    for t in range(ticks):
        written[t] = _drop(drop, f"rate-{t:05d}.jsonl", _lines(start + t * per_tick, per_tick))
        clock += 0.1
        time.sleep(max(0.0, clock - time.monotonic()))
    n_rate = ticks * per_tick
    _wait(lambda: store.predicted() >= start + n_rate, worker, "phase 2's predictions")
    stored = store.rows("SELECT p.created_at, r.source_file FROM predictions p JOIN raw_posts r ON r.id = p.post_id"
                        " WHERE p.source = 'production' AND r.source_file LIKE :pattern", pattern="%/rate-%")
    latency = np.array([created.timestamp() - written[int(Path(source).name[5:10])] for created, source in stored])
    latency_out = {"posts": n_rate, "rate_posts_per_s": per_tick * 10, "seconds": args.seconds,
                   "p50_s": round(float(np.percentile(latency, 50)), 3),
                   "p95_s": round(float(np.percentile(latency, 95)), 3), "max_s": round(float(latency.max()), 3)}

    # 3. SIGKILL in the middle, then a restart
    start += n_rate
    kill_files = max(1, args.kill_posts // 1000)
    kill_payloads = [_lines(start + f * 1000, 1000) for f in range(kill_files)]
    for f, text in enumerate(kill_payloads):
        _drop(drop, f"kill-{f:05d}.jsonl", text)
    total = start + kill_files * 1000
    _wait(lambda: store.predicted() >= start + kill_files * 300, worker, "predictions before the kill")
    worker.send_signal(signal.SIGKILL)
    worker.wait(60)
    before = dict(store.rows("SELECT post_id, created_at FROM predictions WHERE source = 'production'"))
    restarted = time.time()
    worker = _worker(task_path, drop, env, log, engine)
    _wait(lambda: store.predicted() >= total and not any(drop.glob("*.jsonl")), worker, "the restart's predictions")
    recovery = time.time() - restarted
    summary = _stop(worker)
    after = dict(store.rows("SELECT post_id, created_at FROM predictions WHERE source = 'production'"))
    new_posts = int(store.scalar("SELECT count(*) FROM raw_posts WHERE id NOT LIKE 'train%'"))
    expected_links = sum(len(links.post_links(u, m)) for u, m in
                         store.rows("SELECT urls, media_urls FROM raw_posts WHERE id NOT LIKE 'train%'"))
    checks = {
        "new_posts": new_posts,
        "predictions": len(after),
        "every_post_one_prediction": len(after) == new_posts == total,
        "all_by_production_run": store.scalar("SELECT count(*) FROM predictions WHERE source = 'production'"
                                              " AND run_ref <> :r", r=str(run_id)) == 0,
        "none_classified_twice": all(after[p] == c for p, c in before.items()),
        "classified_before_kill": len(before) - start,
        "inbox_empty": store.scalar("SELECT count(*) FROM stream_inbox") == 0,
        "links_counted_once": (store.scalar("SELECT count(*) FROM post_urls") == expected_links
                               == store.scalar("SELECT COALESCE(sum(n_posts), 0) FROM urls")),
        "post_links": expected_links,
        "recovery_seconds": round(recovery, 2),
        "restart_summary": summary,
    }
    return {"architecture": args.architecture, "engine": args.engine, "master": args.master if spark else None,
            "startup_seconds": round(startup, 2), "throughput": throughput, "latency": latency_out, "kill": checks,
            "target": {"posts_per_s": 2000, "p95_s": 2.0},
            "meets_target": (throughput["posts_per_s"] >= 2000 and latency_out["p95_s"] < 2.0
                             and all(checks[k] for k in ("every_post_one_prediction", "all_by_production_run",
                                                         "none_classified_twice", "inbox_empty", "links_counted_once")))}


def _remove_server(home: Path) -> None:
    """Stop the benchmark's embedded PostgreSQL and delete its temporary workspace."""
    from pgserver._commands import pg_ctl

    from datasets import workspace
    from datasets.store import db

    server = db.embedded_server(keep_running=True)
    pg_ctl(["-w", "stop"], pgdata=workspace.pgdata_dir(), user=server.system_user)
    shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--posts", type=int, default=100_000, help="phase 1: statuses dropped at once (default 100000)")
    p.add_argument("--files", type=int, default=100, help="phase 1: files they are dropped as (default 100)")
    p.add_argument("--rate", type=int, default=500, help="phase 2: posts per second (default 500)")
    p.add_argument("--seconds", type=float, default=20, help="phase 2: how long (default 20)")
    p.add_argument("--kill-posts", type=int, default=20_000, help="phase 3: statuses dropped before the kill")
    p.add_argument("--architecture", default="tfidf", help="the promoted model's architecture (default tfidf)")
    p.add_argument("--engine", choices=("default", "spark"), default="default", help="the worker's engine")
    p.add_argument("--master", default="local[2]", help="Spark master with --engine spark (default local[2])")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    home = Path(tempfile.mkdtemp(prefix="goldloop-bench-stream-"))
    os.environ["GOLDLOOP_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    try:
        result = run(args, home)
    finally:
        _remove_server(home)
    if args.json:
        print(jsonout.dumps(result, sort_keys=True))
    else:
        t, lat, k = result["throughput"], result["latency"], result["kill"]
        print(f"engine {result['engine']} (worker ready after {result['startup_seconds']} s)")
        print(f"throughput: {t['posts']:,} posts in {t['seconds']} s = {t['posts_per_s']:,.0f} posts/s (target 2,000)")
        print(f"latency at {lat['rate_posts_per_s']} posts/s: p50 {lat['p50_s']} s, p95 {lat['p95_s']} s (target < 2 s)")
        print(f"SIGKILL + restart: {json.dumps({x: y for x, y in k.items() if x != 'restart_summary'})}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
