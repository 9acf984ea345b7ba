"""Load test of the web tagger: concurrent annotators labeling through the JSON API.

Starts the production server (``python -m tagger_app.serve``, granian) on loopback against a
private embedded PostgreSQL in a temporary GOLDLOOP_HOME, seeds posts and annotator accounts, then
runs ``--users`` annotators (processes x threads, each with its own keep-alive HTTP connection and
session) that log in and repeat "fetch next item, submit a label" for ``--seconds``. Reports
throughput, p50/p95/p99 latency of every request, and ``lost``: acknowledged labels (HTTP 201)
missing from ``human_labels`` afterwards. Target: p95 < 50 ms, lost = 0.

    PYTHONPATH=. .venv/bin/python bench/tagger_load.py [--seconds 60] [--users 20] [--json]
"""
from __future__ import annotations

import hashlib
import io
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-test-password"
LABELS = ("not_ai", "ai")


class Annotator:
    """One annotator's HTTP session: a keep-alive connection, the session cookie and the CSRF token.

    HTTP/1.1 over a plain socket rather than ``http.client``: the load generator shares the
    machine's cores with the server and PostgreSQL, and ``http.client`` parses every response's
    headers with the ``email`` package (0.46-0.5 ms of client CPU per request, against ~0.2 here).
    Responses must carry Content-Length (Flask sets it on all of the tagger's).
    """

    def __init__(self, port: int, name: str) -> None:
        self.address = ("127.0.0.1", port)
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.cookie = ""
        self.csrf = ""
        self.name = name

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """One request on the keep-alive connection; status 0 when it failed (then reconnects)."""
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.address[0]}:{self.address[1]}",
                 f"Cookie: {self.cookie}", f"Content-Length: {len(body)}",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        try:
            if self.sock is None:
                self.sock = socket.create_connection(self.address, timeout=30)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.buffer = b""
            self.sock.sendall("\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + body)
            status, response_headers, data = self._response()
        except (OSError, ValueError):
            if self.sock is not None:
                self.sock.close()
            self.sock = None
            return 0, b"{}"
        for key, value in response_headers:
            if key == "set-cookie" and value.startswith("session="):
                self.cookie = value.split(";", 1)[0]
        return status, data

    def _response(self) -> tuple[int, list[tuple[str, str]], bytes]:
        while b"\r\n\r\n" not in self.buffer:
            self._receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = [(k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in header_lines)]
        length = int(dict(headers)["content-length"])  # KeyError, a loud failure, if a response lacks it
        while len(self.buffer) < length:
            self._receive()
        data, self.buffer = self.buffer[:length], self.buffer[length:]
        return int(status_line.split(" ", 2)[1]), headers, data

    def _receive(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buffer += chunk

    def login(self) -> None:
        _, page = self.request("GET", "/login")
        token = re.search(rb'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1).decode()
        form = urlencode({"csrf_token": token, "name": self.name, "password": PASSWORD}).encode()
        status, _ = self.request("POST", "/login", form, {"Content-Type": "application/x-www-form-urlencoded"})
        if status != 302:
            raise RuntimeError(f"login of {self.name} failed: HTTP {status}")
        self.csrf = json.loads(self.request("GET", "/api/me")[1])["csrf_token"]


def _user_loop(port: int, name: str, deadline: float, think_s: float, out: list) -> None:
    user = Annotator(port, name)
    user.login()
    latencies, acked, errors = [], [], 0
    query = "/api/next?" + urlencode({"queue": "split", "split": "train", "n": 1})
    i = 0
    while time.time() < deadline:
        t0 = time.perf_counter()
        status, data = user.request("GET", query)
        latencies.append(("next", time.perf_counter() - t0))
        items = json.loads(data).get("items", []) if status == 200 else []
        if not items:
            errors += status != 200
            continue
        post_id = items[0]["post_id"]
        label = LABELS[int(hashlib.md5(post_id.encode()).hexdigest(), 16) % 2]
        body = json.dumps({"post_id": post_id, "label": label, "duration_ms": 800 + i % 400}).encode()
        t0 = time.perf_counter()
        status, _ = user.request("POST", "/api/submit", body,
                                 {"Content-Type": "application/json", "X-CSRFToken": user.csrf})
        latencies.append(("submit", time.perf_counter() - t0))
        if status == 201:
            acked.append((name, post_id, label))
        else:
            errors += 1
        i += 1
        if think_s:
            time.sleep(think_s)
    out.append((latencies, acked, errors))


def _worker(port: int, names: list[str], deadline: float, think_s: float, queue: mp.Queue) -> None:
    out: list = []
    threads = [threading.Thread(target=_user_loop, args=(port, n, deadline, think_s, out)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    queue.put((out, usage.ru_utime + usage.ru_stime))


def _cpu_s(processes: dict[int, psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each live process, by pid."""
    out = {}
    for pid, proc in processes.items():
        try:
            t = proc.cpu_times()
            out[pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def _postgres_processes() -> dict[int, psutil.Process]:
    """The embedded PostgreSQL server and its backends (all of them serve this benchmark)."""
    from datasets import db

    master = psutil.Process(db.embedded_server().get_pid())
    return {p.pid: p for p in [master, *master.children(recursive=True)]}


def _seed(engine, posts: int, users: int) -> None:
    from tagger_app.store import annotators

    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("INSERT INTO dataset_versions (version, seed) VALUES (1, 0)")
        buf = io.StringIO("".join(f"b{i:07d}\tsynthetic post number {i} about #data and https://example.com/{i}\n"
                                  for i in range(posts)))
        cur.copy_expert("COPY raw_posts (id, text) FROM STDIN", buf)
        buf = io.StringIO("".join(f"1\tb{i:07d}\ttrain\t{hashlib.md5(str(i).encode()).hexdigest()}\n"
                                  for i in range(posts)))
        cur.copy_expert("COPY split_members (version, post_id, split, norm_hash) FROM STDIN", buf)
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        for u in range(users):
            annotators.add(conn, f"load{u:02d}", PASSWORD)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")  # planner statistics, as a database in use has them


def _percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1000


def run(seconds: float, users: int, processes: int, threads: int, posts: int, think_ms: float,
        server_processes: int = 1) -> dict:
    """Run the load test in a private workspace and return the figures."""
    home = tempfile.mkdtemp(prefix="goldloop-bench-")
    os.environ["GOLDLOOP_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(REPO_ROOT))
    from datasets import db
    from tagger_app.serve import free_port

    engine = db.get_engine()
    _seed(engine, posts, users)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": db.database_url(), "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen([sys.executable, "-m", "tagger_app.serve", "--port", str(port), "--threads", str(threads),
                               "--processes", str(server_processes)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = [server.stdout.readline()]  # the URL comes once the server answers, maybe after log lines
        while "http://" not in lines[-1]:
            if server.poll() is not None:
                raise RuntimeError("server did not start:\n" + "".join(lines) + server.stdout.read())
            lines.append(server.stdout.readline())
        log: list[str] = []  # keep reading the server's output: a full pipe would block its logging
        threading.Thread(target=lambda: log.extend(server.stdout), daemon=True).start()
        names = [f"load{u:02d}" for u in range(users)]
        groups = [names[i::processes] for i in range(processes)]
        deadline = time.time() + seconds
        queue: mp.Queue = mp.get_context("fork").Queue()
        workers = [mp.get_context("fork").Process(target=_worker, args=(port, g, deadline, think_ms / 1000, queue))
                   for g in groups if g]
        parent = psutil.Process(server.pid)
        server_proc = {p.pid: p for p in [parent, *parent.children(recursive=True)]}
        server_cpu, pg_cpu = _cpu_s(server_proc), _cpu_s(_postgres_processes())
        load_before = os.getloadavg()[0]
        for w in workers:
            w.start()
        outputs = [queue.get() for _ in workers]
        load_after = os.getloadavg()[0]
        pg_after = _cpu_s(_postgres_processes())  # backends opened during the run started at 0
        server_cpu_s = sum(_cpu_s(server_proc).values()) - sum(server_cpu.values())
        pg_cpu_s = sum(t - pg_cpu.get(pid, 0.0) for pid, t in pg_after.items())
        for w in workers:
            w.join()
        results = [r for out, _ in outputs for r in out]
        client_cpu_s = sum(cpu for _, cpu in outputs)
    finally:
        server.terminate()
        server.wait(timeout=30)
    latencies = sorted(dt for r in results for _, dt in r[0])
    submit = sorted(dt for r in results for kind, dt in r[0] if kind == "submit")
    nxt = sorted(dt for r in results for kind, dt in r[0] if kind == "next")
    acked = [a for r in results for a in r[1]]
    with engine.connect() as conn:
        import sqlalchemy as sa

        stored = set(conn.execute(sa.text("SELECT annotator, post_id, label FROM human_labels WHERE action = 'label'")).all())
        duplicates = conn.execute(sa.text(
            "SELECT count(*) - count(DISTINCT post_id) FROM human_labels WHERE action = 'label'")).scalar()
    lost = sum(1 for a in acked if tuple(a) not in stored)
    engine.dispose()
    db._engine_for.cache_clear()
    db.embedded_server().cleanup()  # stop the private PostgreSQL, then remove its workspace
    shutil.rmtree(home, ignore_errors=True)
    return {
        "users": users, "seconds": seconds, "think_ms": think_ms, "server_processes": server_processes,
        "server_threads": threads,
        "requests": len(latencies),
        "labels_acknowledged": len(acked), "throughput": round(len(acked) / seconds, 1),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(_percentile(latencies, 0.50), 2), "p95_ms": round(_percentile(latencies, 0.95), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "submit_p95_ms": round(_percentile(submit, 0.95), 2), "next_p95_ms": round(_percentile(nxt, 0.95), 2),
        "errors": sum(r[2] for r in results), "lost": lost, "items_labeled_twice": duplicates,
        "target": {"p95_ms": 50, "lost": 0},
        "ok": _percentile(latencies, 0.95) < 50 and lost == 0,
        "server_cpu_ms_per_request": round(1000 * server_cpu_s / max(len(latencies), 1), 2),
        "postgres_cpu_ms_per_request": round(1000 * pg_cpu_s / max(len(latencies), 1), 2),
        "client_cpu_ms_per_request": round(1000 * client_cpu_s / max(len(latencies), 1), 2),
        "load_average_before": round(load_before, 2), "load_average_after": round(load_after, 2),
        "cpus": os.cpu_count(),
    }


def _human(r: dict) -> str:
    return (f"{r['users']} annotators for {r['seconds']:.0f} s (think {r['think_ms']:.0f} ms), granian "
            f"{r['server_processes']} x {r['server_threads']}: {r['labels_acknowledged']} labels ({r['throughput']}/s), {r['requests_per_s']} requests/s\n"
            f"latency p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms "
            f"(submit p95 {r['submit_p95_ms']}, next p95 {r['next_p95_ms']})\n"
            f"errors {r['errors']}, lost labels {r['lost']}, items labeled twice {r['items_labeled_twice']}\n"
            f"CPU ms/request: server {r['server_cpu_ms_per_request']}, PostgreSQL {r['postgres_cpu_ms_per_request']},"
            f" load generator {r['client_cpu_ms_per_request']}\n"
            f"load average (1 min) before {r['load_average_before']}, after {r['load_average_after']} on {r['cpus']} CPUs\ntarget p95 < 50 ms and 0 lost: {'met' if r['ok'] else 'NOT met'}")


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    from datasets import cli
    from tagger_app.serve import DEFAULT_PROCESSES, DEFAULT_THREADS

    p = cli.parser("tagger_load.py", __doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60)
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--processes", type=int, default=4, help="client processes the users are spread over")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                   help=f"application threads per server process (default {DEFAULT_THREADS}, as bin/tagger.sh)")
    p.add_argument("--server-processes", type=int, default=DEFAULT_PROCESSES,
                   help=f"server worker processes (default {DEFAULT_PROCESSES}, as bin/tagger.sh --processes)")
    p.add_argument("--posts", type=int, default=100_000, help="posts seeded in the train split")
    p.add_argument("--think-ms", type=float, default=0, help="pause after each label (0: back to back, a stress test)")
    args = p.parse_args()
    result = run(args.seconds, args.users, args.processes, args.threads, args.posts, args.think_ms,
                 args.server_processes)
    cli.emit(result, args.json, _human)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
