"""Benchmark: JSONL.gz -> PostgreSQL, goldloop's loader against the original design's path.

The original design read a file with ``json.loads`` per line into a pandas ``DataFrame`` and
stored it with ``DataFrame.to_sql`` (SQLAlchemy). Both paths here produce the same rows (the
same field mapping, :func:`datasets.records.twitter_v1`) from the same synthetic Twitter v1.1
statuses, each into an emptied ``raw_posts`` on a private embedded PostgreSQL (temporary
``GOLDLOOP_HOME``). The reference keeps every record in memory, so the speed comparison runs
on the first ``--ref-rows`` statuses; our loader then loads the whole ``--rows`` file in a
child process whose peak RSS is polled from ``/proc`` (see ``_ours``).

    .venv/bin/python bench/ingest.py [--rows 1000000] [--ref-rows 200000] [--json]
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from datasets import jsonout  # noqa: E402

OUT = REPO / "bench" / "out"


def _dataset(rows: int) -> Path:
    """The synthetic file of ``rows`` statuses (cached in bench/out/, which git ignores)."""
    from datasets import ingest_synth

    path = OUT / f"tweets_v1_{rows}.jsonl.gz"
    if not path.exists():
        print(f"writing {rows:,} synthetic statuses to {path} ...", file=sys.stderr)
        ingest_synth.write_jsonl_gz(path.with_suffix(".tmp"), rows)
        path.with_suffix(".tmp").rename(path)
    return path


def _ours(path: Path, env: dict) -> dict:
    """Run ``datasets.ingest`` on ``path`` in a child process; return its result and peak RSS.

    The peak is the child's ``VmHWM`` (high-water RSS of its own address space), polled until
    it exits. ``ru_maxrss`` would not do: it also counts the parent's pages the child had
    between fork and exec.
    """
    started = time.perf_counter()
    peak_kb = 0
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen([sys.executable, "-m", "datasets.ingest", str(path), "--json", "--quiet"],
                                 cwd=REPO, env=env, stdout=out, stderr=err)
        while child.poll() is None:
            peak_kb = max(peak_kb, _vm_hwm_kb(child.pid))
            time.sleep(0.05)
        out.seek(0)
        err.seek(0)
        if child.returncode != 0:
            raise SystemExit(f"ingest failed ({child.returncode}): {err.read().decode()[-2000:]}")
        result = json.loads(out.read())
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    result["peak_rss_mb"] = round(peak_kb / 1024, 1)
    return result


def _vm_hwm_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reference(path: Path, rows: int, engine) -> dict:
    """The original design's path: json.loads per line -> DataFrame -> DataFrame.to_sql."""
    import pandas as pd

    from datasets import records
    from datasets.store import posts

    started = time.perf_counter()
    parsed = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines):
            if number >= rows:
                break
            parsed.append(records.twitter_v1(json.loads(line), line.rstrip("\n"))._asdict())
    frame = pd.DataFrame(parsed).drop(columns="time_warning")  # a note for the loader, not a column
    del parsed
    frame.to_sql("raw_posts", engine, if_exists="append", index=False, chunksize=5000)
    seconds = time.perf_counter() - started
    with engine.connect() as conn:
        stored = posts.count(conn)
    return {"rows": stored, "seconds": round(seconds, 2), "rows_per_s": round(stored / seconds, 1)}


def _remove_server(home: Path) -> None:
    """Stop the benchmark's embedded PostgreSQL and delete its temporary workspace."""
    from pgserver._commands import pg_ctl

    from datasets import workspace
    from datasets.store import db

    server = db.embedded_server(keep_running=True)
    pg_ctl(["-w", "stop"], pgdata=workspace.pgdata_dir(), user=server.system_user)
    shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="statuses in the big file (default 1,000,000)")
    p.add_argument("--ref-rows", type=int, default=200_000,
                   help="statuses both paths load for the speed comparison (default 200,000)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()
    ref_rows = min(args.ref_rows, args.rows)

    home = tempfile.mkdtemp(prefix="goldloop-bench-ingest-")
    os.environ["GOLDLOOP_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    from datasets.store import db, posts, sql

    big, small = _dataset(args.rows), _dataset(ref_rows)
    engine = db.get_engine()
    env = dict(os.environ, DATABASE_URL=db.database_url(), PYTHONPATH=str(REPO))

    def empty_posts() -> None:
        with sql.transaction(engine) as conn:
            posts.clear(conn)

    try:
        ours_small = _ours(small, env)
        empty_posts()
        reference = _reference(small, ref_rows, engine)
        empty_posts()
        ours_big = _ours(big, env)
        rerun = _ours(big, env)
    finally:
        engine.dispose()
        _remove_server(Path(home))
    result = {
        "rows": args.rows, "file_mb": round(big.stat().st_size / 2**20, 1),
        "rows_per_s": ours_big["rows_per_s"], "seconds": ours_big["seconds"], "peak_rss_mb": ours_big["peak_rss_mb"],
        "inserted": ours_big["inserted"], "rerun_inserted": rerun["inserted"],
        "compare_rows": ref_rows, "ours_compare_rows_per_s": ours_small["rows_per_s"],
        "reference_rows_per_s": reference["rows_per_s"], "reference_seconds": reference["seconds"],
        "speedup": round(ours_small["rows_per_s"] / reference["rows_per_s"], 2),
        "target": {"speedup": 2.0, "peak_rss_mb": 500},
    }
    result["meets_target"] = result["speedup"] >= 2.0 and result["peak_rss_mb"] < 500
    if args.json:
        print(jsonout.dumps(result))
    else:
        print(f"same {ref_rows:,} statuses: ours {ours_small['rows_per_s']:,.0f} rows/s, reference "
              f"(json.loads -> DataFrame -> to_sql) {reference['rows_per_s']:,.0f} rows/s: "
              f"speedup {result['speedup']}x (target 2x)\n"
              f"{args.rows:,} statuses ({result['file_mb']} MB gz): {ours_big['rows_per_s']:,.0f} rows/s, "
              f"{ours_big['seconds']} s, peak RSS {ours_big['peak_rss_mb']} MB (target < 500 MB); "
              f"re-run inserted {rerun['inserted']}")
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
