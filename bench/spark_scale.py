"""Default engine vs Spark (issue 15): LF application + weak labels, and ingestion, on the same data.

    .venv/bin/python bench/spark_scale.py --json --label-sizes 100000,1000000 --ingest-rows 200000

Each measurement runs in a child process whose whole tree (the driver, Spark's JVM, its Python
workers) is sampled with psutil every 0.2 s: wall time, CPU seconds (user + system of every
process seen, at its last sample) per million posts, and peak RSS per process kind. PostgreSQL
(ingest) is a separate server: its CPU is not in the tree and is reported apart.

Label: ``labeling.synthetic.posts`` as the four splits of one version (10% test, 10% dev, 20% LF,
60% train), a 20-LF keyword/regex task; measured is the engines' own work: apply the LFs, fit
the label model, write the weak labels and produce every post's votes and probabilities for the
store (``LocalEngine`` / ``SparkEngine``; the store transaction itself, the same code for both, is
timed apart with ``--record-rows``). Ingest: Twitter v1.1 statuses (``datasets.ingest_synth``)
as uncompressed JSON lines into an empty embedded PostgreSQL, then a re-run (nothing inserted).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

KEYWORDS = ("machine learning", "deep", "neural", "AI", "data science", "python", "pandas", "model", "training",
            "cloud", "statistics", "kaggle", "subscribe", "video", "free", "money", "game", "sleep", "love", "café")
LABELS = ("other", "topic")


def _task(path: Path) -> Path:
    """20 LFs: 16 keyword, 4 regex, voting either label."""
    entries = []
    for j, term in enumerate(KEYWORDS):
        label = LABELS[j % 2 == 0 and j < 12]
        if j < 16:
            entries.append(f'[[lfs]]\nname = "kw_{j}"\nkind = "keyword"\nlabel = "{label}"\nterms = ["{term}"]\n')
        else:
            entries.append(f'[[lfs]]\nname = "re_{j}"\nkind = "regex"\nlabel = "{label}"\n'
                           f'patterns = ["\\\\b{term}\\\\w*"]\n')
    path.write_text(f'name = "bench"\nlabels = ["{LABELS[0]}", "{LABELS[1]}"]\npositive = "{LABELS[1]}"\n\n'
                    + "\n".join(entries) + "\n[label_model]\nseed = 0\n", encoding="utf-8")
    return path


def _write_splits(home: Path, rows: int) -> None:
    """One version's four splits of synthetic posts, written in chunks (bounded memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from datasets.split_files import SCHEMA
    from labeling import synthetic

    out = home / "datasets" / "v1"
    out.mkdir(parents=True, exist_ok=True)
    shares = {"test": 0.1, "dev": 0.1, "lf": 0.2, "train": 0.6}
    for k, (split, share) in enumerate(shares.items()):
        n = int(rows * share)
        with pq.ParquetWriter(out / f"{split}.parquet", SCHEMA, compression="zstd") as writer:
            for start in range(0, n, 200_000):
                frame = synthetic.posts(min(200_000, n - start), seed=k * 1000 + start // 200_000)
                size = len(frame)
                table = pa.table({
                    "id": frame["id"], "text": frame["text"], "created_at": pa.nulls(size, SCHEMA.field("created_at").type),
                    "lang": pa.nulls(size, pa.string()), "author": frame["author"], "source_app": frame["source_app"],
                    "is_retweet": [False] * size, "retweeted_id": pa.nulls(size, pa.string()),
                    "hashtags": frame["hashtags"], "mentions": [[]] * size, "urls": frame["urls"],
                    "media_urls": [[]] * size, "norm_hash": frame["id"], "split": [split] * size,
                    "version": [1] * size}, schema=SCHEMA)
                writer.write_table(table)


def child_label(engine_name: str, master: str, home: Path, task_path: Path) -> dict:
    """Apply the LFs, fit the label model, write the weak labels; the engine's own work."""
    import numpy as np

    from labeling import analysis, combiners
    from labeling.applier import TaskApplier
    from labeling.label import LocalEngine, remove_outputs
    from labeling.task import load_task

    task = load_task(task_path)
    applier = TaskApplier(task)
    started = time.perf_counter()
    if engine_name == "default":
        from contextlib import nullcontext

        context = nullcontext(LocalEngine(applier, 1, {}, 50_000, False))
    else:
        from labeling import label_spark

        context = label_spark.engine(master, applier, 1, {}, False)
    with context as engine:
        applied = engine.apply()
        model = analysis.fit_label_model(applied.L_fit, 2, dict(task.label_model), False)
        targets = combiners.choose_weak_targets(model, np.zeros((0, 20), np.int8), np.zeros(0, np.int64),
                                                list(task.labels), 0)
        tmp, batches = engine.write(task, targets.predict_proba, 0)
        recorded = sum(len(ids) for ids, _, _ in batches)  # what the store transaction would be given
        remove_outputs(tmp)
    return {"seconds": round(time.perf_counter() - started, 2), "posts": sum(applied.counts.values()), "recorded": recorded,
            "fit_rows": len(applied.L_fit), "fit_total": applied.fit_total}


def child_ingest(master: str | None, path: Path) -> dict:
    from datasets.ingest import ingest_paths

    first = ingest_paths([path], progress=False, master=master)
    again = ingest_paths([path], progress=False, master=master)
    return {"seconds": first.seconds, "rows_per_s": first.rows_per_s, "inserted": first.inserted,
            "rerun_inserted": again.inserted, "rerun_seconds": again.seconds}


def _measure(args: list[str], env: dict[str, str], pg_pid: int | None = None) -> dict:
    """Run ``bench/spark_scale.py --child ...`` and sample its process tree."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", *args], env=env, stdout=subprocess.PIPE, text=True)
    root = psutil.Process(proc.pid)
    cpu: dict[int, tuple[str, float]] = {}
    peak: dict[str, int] = {}
    pg = psutil.Process(pg_pid) if pg_pid else None
    pg_start = _tree_cpu(pg) if pg else 0.0
    pg_cpu = 0.0
    while proc.poll() is None:
        for p in [root, *root.children(recursive=True)]:
            try:
                kind = ("driver" if p.pid == root.pid else "jvm" if "java" in p.name() else
                        "python-worker" if "python" in p.name() else p.name())
                times, rss = p.cpu_times(), p.memory_info().rss
            except psutil.Error:
                continue
            cpu[p.pid] = (kind, times.user + times.system + times.children_user + times.children_system)
            peak[kind] = max(peak.get(kind, 0), rss) if kind != "python-worker" else peak.get(kind, 0) + 0
            if kind == "python-worker":
                peak["python-worker (each)"] = max(peak.get("python-worker (each)", 0), rss)
        if pg:
            pg_cpu = _tree_cpu(pg) - pg_start
        time.sleep(0.2)
    out = json.loads(proc.stdout.read().strip().splitlines()[-1])
    by_kind: dict[str, float] = {}
    for kind, seconds in cpu.values():
        by_kind[kind] = by_kind.get(kind, 0.0) + seconds
    out.update(wall_s=round(time.perf_counter() - started, 2), cpu_s={k: round(v, 1) for k, v in by_kind.items()},
               cpu_s_total=round(sum(by_kind.values()), 1),
               peak_rss_mb={k: round(v / 2**20) for k, v in peak.items() if k != "python-worker"})
    if pg:
        out["postgres_cpu_s"] = round(pg_cpu, 1)
    return out


def _tree_cpu(proc: psutil.Process) -> float:
    """CPU seconds of ``proc``, its live descendants and the children it has reaped (PostgreSQL
    backends of connections already closed, as each Spark task's are)."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.Error:
            pass
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", action="store_true")
    p.add_argument("--label-sizes", default="100000,1000000")
    p.add_argument("--ingest-rows", type=int, default=200_000)
    p.add_argument("--record-rows", type=int, default=0, help="also time the label run's store transaction")
    p.add_argument("--master", default="local[2]")
    p.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "label":
            result = child_label(rest[0], args.master, Path(rest[1]), Path(rest[2]))
        else:
            result = child_ingest(None if rest[0] == "default" else args.master, Path(rest[1]))
        print(json.dumps(result))
        return

    report: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}, "master": args.master,
                    "label": [], "ingest": []}
    with tempfile.TemporaryDirectory(prefix="spark-scale-") as tmp:
        tmp_path = Path(tmp)
        task = _task(tmp_path / "bench.toml")
        for rows in [int(x) for x in args.label_sizes.split(",") if x]:
            home = tmp_path / f"label-{rows}"
            _write_splits(home, rows)
            env = {**os.environ, "GOLDLOOP_HOME": str(home), "DATABASE_URL": "postgresql://unused@localhost/none"}
            for engine_name in ("default", "spark"):
                measured = _measure(["label", engine_name, str(home), str(task)], env)
                measured.update(engine=engine_name, rows=rows,
                                cpu_s_per_million=round(measured["cpu_s_total"] / rows * 1e6, 1))
                report["label"].append(measured)
                print(json.dumps(measured), file=sys.stderr)
        if args.ingest_rows or args.record_rows:
            with _embedded_postgres(tmp_path) as (env, pg_pid):
                if args.ingest_rows:
                    report["ingest"] = _bench_ingest(tmp_path, args.ingest_rows, env, pg_pid)
                if args.record_rows:
                    report["record"] = _bench_record(task, args.record_rows, pg_pid)
                    print(json.dumps(report["record"]), file=sys.stderr)
    report["machine"]["load_avg_at_end"] = os.getloadavg()
    print(json.dumps(report, indent=None if args.json else 2))


@contextmanager
def _embedded_postgres(tmp_path: Path) -> Iterator[tuple[dict[str, str], int]]:
    """A private embedded PostgreSQL: the children's environment and the postmaster's pid."""
    from datasets.store import db

    home = tmp_path / "db-home"
    os.environ["GOLDLOOP_HOME"] = str(home)
    os.environ.pop("DATABASE_URL", None)
    server = db.embedded_server(keep_running=True)
    url = db.database_url()
    env = {**os.environ, "GOLDLOOP_HOME": str(home), "DATABASE_URL": url.replace("postgresql+psycopg2", "postgresql")}
    try:
        yield env, int((Path(server.pgdata) / "postmaster.pid").read_text().split()[0])
    finally:
        db.reset_engines()
        server.cleanup()


def _bench_ingest(tmp_path: Path, rows: int, env: dict[str, str], pg_pid: int) -> list[dict]:
    from datasets import ingest_synth
    from datasets.store import posts, sql

    path = tmp_path / "statuses.jsonl"
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(json.dumps(ingest_synth.status(i)) + "\n" for i in range(rows))
    results = []
    for engine_name in ("default", "spark"):
        with sql.transaction() as conn:
            posts.clear(conn)
        measured = _measure(["ingest", engine_name, str(path)], env, pg_pid)
        measured.update(engine=engine_name, rows=rows, file_mb=round(path.stat().st_size / 2**20),
                        cpu_s_per_million=round(measured["cpu_s_total"] / rows * 1e6, 1))
        results.append(measured)
        print(json.dumps(measured), file=sys.stderr)
    return results


def _bench_record(task_path: Path, rows: int, pg_pid: int) -> dict:
    """The label step's serial part, the same for both engines: ``labeling.label.record_run``
    storing ``rows`` posts' votes (20 LFs, a third of the posts covered) and label-model
    predictions in one transaction from the driver."""
    import numpy as np

    from datasets.store import posts, sql, versions
    from labeling.label import record_run
    from labeling.task import load_task

    task = load_task(task_path)
    with sql.transaction() as conn:  # the posts and the version the votes refer to
        posts.clear(conn)
        posts.add_bare(conn, ((f"r{i}", "x") for i in range(rows)))
        version = versions.reserve(conn)
        versions.create(conn, version, seed=0)
    rng = np.random.default_rng(0)

    def batches() -> Iterator[tuple[list[str], np.ndarray, np.ndarray]]:
        for start in range(0, rows, 100_000):
            n = min(100_000, rows - start)
            L = np.where(rng.random((n, 20)) < 0.02, rng.integers(0, 2, (n, 20)), -1).astype(np.int8)
            p = rng.random(n)
            yield [f"r{start + i}" for i in range(n)], L, np.column_stack([p, 1 - p])

    pg = psutil.Process(pg_pid)
    pg_start, cpu_start, started = _tree_cpu(pg), time.process_time(), time.perf_counter()
    record_run(task, version, {}, {}, batches())
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
            "driver_cpu_s": round(time.process_time() - cpu_start, 1), "postgres_cpu_s": round(_tree_cpu(pg) - pg_start, 1)}


if __name__ == "__main__":
    main()
