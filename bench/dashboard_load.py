"""Dashboard pages with a million classified posts: how long GET /dashboard, /live and /api/live take.

Target (issue 14): each dashboard page answers in under 300 ms with 1,000,000 classified posts
in the store.

Fills a private embedded PostgreSQL (temporary GOLDLOOP_HOME) by COPY through the store's helper
(``datasets.store.sql.copy_rows``): ``--posts`` posts (1,000,000) stamped uniformly over the last
30 days, each with one production prediction (stored at the post's time) and one link (5,000
links over 500 domains); a data-set version holding every post (test 2%, dev 2%, lf 5%, train
the rest) with 2,000 golden labels; a train run in production. Then it starts the real tagger
server (granian, ``python -m tagger_app.serve``, its default processes and threads), logs in
and times ``--requests`` (20) sequential requests of each page after two warm-up requests:
the default views (``/dashboard``, ``/live`` = minute buckets and the last 24 h of links,
``/api/live``, ``/live/panel``) against the target, and the widest ones (day buckets over 30
days, links over 30 days: every one of the million predictions) for information.

    PYTHONPATH=. .venv/bin/python bench/dashboard_load.py [--posts 1000000] [--requests 20] [--json]

Exit status 0 when every default view's p95 is under the target.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import requests
from tqdm import tqdm

from bench.tagger_load import percentiles, private_workspace, start_server

TARGET_MS = 300.0
DEFAULT_VIEWS = ("/dashboard", "/live", "/api/live", "/live/panel")
WIDE_VIEWS = ("/live?bucket=day&window=30d", "/api/live?bucket=day&window=30d", "/live?bucket=hour&window=7d")
PASSWORD = "bench password 1234"
CHUNK = 100_000
SPLITS = (("test", 0.02), ("dev", 0.02), ("lf", 0.05), ("train", 1.0))


def _split(i: int, n: int) -> str:
    share = i / n
    total = 0.0
    for name, part in SPLITS:
        total += part
        if share < total:
            return name
    return "train"


def fill(engine: Any, task: Any, n: int) -> dict[str, float]:
    """The store as the module docstring says, in chunks; returns seconds per table."""
    from datasets.store import annotators, registry, runs, sql

    now = datetime.now(timezone.utc)
    labels = task.labels
    spent: dict[str, float] = {}

    def timed(name: str, table: str, columns: tuple[str, ...], rows_of: Any) -> None:
        started = time.perf_counter()
        with tqdm(total=n, desc=name, unit=" rows", file=sys.stderr) as bar:
            for start in range(0, n, CHUNK):
                with sql.transaction(engine) as conn:
                    bar.update(sql.copy_rows(conn, table, columns, rows_of(range(start, min(n, start + CHUNK)))))
        spent[name] = round(time.perf_counter() - started, 1)

    def when(i: int) -> datetime:
        return now - timedelta(seconds=30 * 86400 * (n - i) / n)

    def link(i: int) -> str:
        return f"https://site{i % 500}.example/page/{i % 5000}"

    timed("raw_posts", "raw_posts", ("id", "text", "created_at", "urls"),
          lambda ids: ((f"b{i:07d}", f"post number {i} about topic {i % 97}", when(i), [link(i)]) for i in ids))
    started = time.perf_counter()
    with sql.transaction(engine) as conn:
        sql.copy_rows(conn, "urls", ("url", "domain", "is_media", "first_seen", "last_seen", "n_posts"),
                      ((link(u), f"site{u % 500}.example", False, when(0), now, len(range(u, n, 5000)))
                       for u in range(min(n, 5000))))
    spent["urls"] = round(time.perf_counter() - started, 1)
    timed("post_urls", "post_urls", ("post_id", "url"), lambda ids: ((f"b{i:07d}", link(i)) for i in ids))
    with sql.transaction(engine) as conn:
        run_id = runs.record(conn, task=task.name, task_hash=task.sha256, version=None, kind="train",
                             params={"architecture": "tfidf"}, metrics={})
        registry.append(conn, task=task.name, action="promote", run_id=run_id, previous_run_id=None, actor="bench",
                        reason="bench", forced=True, comparison={"n": 2000, "candidate": {
                            "run_id": run_id, "n": 2000, "accuracy": 0.9, "macro_f1": 0.88}})
        annotators.add(conn, "bench", PASSWORD, role="annotator")
    timed("predictions", "predictions", ("task", "source", "post_id", "label", "confidence", "probs", "run_ref",
                                         "created_at"),
          lambda ids: ((task.name, "production", f"b{i:07d}", labels[(i * 7) % len(labels)], 0.5 + (i % 50) / 100,
                        "{}", str(run_id), when(i)) for i in ids))
    with sql.transaction(engine) as conn:
        sql.copy_rows(conn, "dataset_versions", ("version", "seed", "counts"), [(1, 0, "{}")])
    timed("split_members", "split_members", ("version", "post_id", "split", "norm_hash"),
          lambda ids: ((1, f"b{i:07d}", _split(i, n), hashlib.md5(str(i).encode()).hexdigest()) for i in ids))
    with sql.transaction(engine) as conn:
        sql.copy_rows(conn, "human_labels", ("task", "post_id", "action", "label", "annotator", "source"),
                      ((task.name, f"b{i:07d}", "label", labels[i % len(labels)], "bench", "import")
                       for i in range(0, min(n, 2000))))
    return spent


def login(base_url: str) -> requests.Session:
    http = requests.Session()
    page = http.get(base_url + "/login", timeout=30).text
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    answer = http.post(base_url + "/login", data={"csrf_token": token, "name": "bench", "password": PASSWORD},
                       allow_redirects=False, timeout=30)
    if answer.status_code not in (302, 303):
        raise RuntimeError(f"login failed: HTTP {answer.status_code}")
    return http


def time_views(http: requests.Session, base_url: str, views: tuple[str, ...], n: int) -> dict[str, Any]:
    """p50/p95 (ms) of ``n`` sequential requests of each view, after two warm-up requests."""
    out = {}
    for view in views:
        for _ in range(2):
            http.get(base_url + view, timeout=60).raise_for_status()
        seconds = []
        for _ in range(n):
            started = time.perf_counter()
            answer = http.get(base_url + view, timeout=60)
            seconds.append(time.perf_counter() - started)
            answer.raise_for_status()
        out[view] = {**percentiles(seconds), "bytes": len(answer.content)}
    return out


def run(posts: int, n: int) -> dict[str, Any]:
    with private_workspace() as (engine, task):
        from datasets.store import db

        spent = fill(engine, task, posts)
        started = time.perf_counter()
        db.vacuum_analyze(engine)
        spent["vacuum_analyze"] = round(time.perf_counter() - started, 1)
        server, base_url, _log = start_server(db.database_url(), None, None)
        try:
            http = login(base_url)
            default = time_views(http, base_url, DEFAULT_VIEWS, n)
            wide = time_views(http, base_url, WIDE_VIEWS, n)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {"posts": posts, "requests": n, "target_ms": TARGET_MS, "fill_seconds": spent, "default": default,
            "wide": wide, "cpus": os.cpu_count(),
            "ok": all(v["p95"] is not None and v["p95"] < TARGET_MS for v in default.values())}


def human(r: dict[str, Any]) -> str:
    lines = [f"{r['posts']:,} classified posts; {r['requests']} requests per view; fill {r['fill_seconds']}"]
    for group in ("default", "wide"):
        for view, f in r[group].items():
            mark = ("ok" if f["p95"] < r["target_ms"] else "OVER") if group == "default" else "info"
            lines.append(f"{group:7} {view:40} p50 {f['p50']:8.1f} ms  p95 {f['p95']:8.1f} ms  ({f['bytes']:,} bytes) {mark}")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--posts", type=int, default=1_000_000)
    p.add_argument("--requests", type=int, default=20)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.posts < 1 or args.requests < 1:
        p.error("--posts and --requests must be at least 1")
    result = run(args.posts, args.requests)
    print(json.dumps(result, indent=2) if args.json else human(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
