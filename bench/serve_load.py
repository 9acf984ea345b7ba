"""Load test of the predict API (``bin/serve.sh``): single texts from many clients, then batches.

Builds a private workspace and embedded PostgreSQL in a temporary GOLDLOOP_HOME with the demo
corpus (``bin/ingest.sh``, ``bin/split.sh``, ``bin/import_labels.sh`` of the demo's gold labels,
``bin/label.sh``), trains the default TF-IDF model (``bin/train.sh --architecture tfidf
--no-select``) and, when its package is installed (``models.encoder.available()``), the MiniLM
encoder model, promotes the TF-IDF one, adds a token and starts the server (``python -m
models.serving.serve``, the server's defaults as ``bin/serve.sh``: one worker per core). Then, per
model (the encoder one promoted with ``bin/model.sh promote --force`` while the server runs, so
the reload is part of the run):

* burst: ``--users`` clients (20) send one demo text each at the same moment; the next round
  starts when all 20 are answered; for ``--seconds`` (15): p50/p95/p99 latency of the requests;
* single: the same clients back to back, without waiting for each other (capacity; its
  latency is users / throughput, a closed loop's, so it has no target);
* batch: ``--batch-clients`` clients (2) sending ``--batch`` texts (256) per request for
  ``--seconds``: texts/s and latency.

Targets (TF-IDF model): burst p95 < 20 ms, batch >= 5,000 texts/s, 0 errors (non-200 answers or
failed connections) everywhere. The encoder model's figures are reported without a target. The
clients run on the same machine as the server and take part of its 2 cores; the load average
is reported, since anything else running on the machine takes cores from the server too.

    PYTHONPATH=. .venv/bin/python bench/serve_load.py [--seconds 15] [--users 20] [--batch 256]
        [--batch-clients 2] [--workers N] [--json]
"""
from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
P95_TARGET_MS = 20.0
BATCH_TARGET_TEXTS_S = 5000.0
SCENARIOS = ("burst", "single", "batch")


def command(*args: str) -> dict[str, Any]:
    """Run ``bin/NAME.sh ARGS --json`` and return its JSON (exit 2, partial success, is fine)."""
    done = subprocess.run([str(REPO_ROOT / "bin" / args[0]), *args[1:], "--json"], capture_output=True, text=True)
    if done.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def prepare(encoder_model: bool) -> dict[str, int]:
    """The demo workspace and its trained runs (``tfidf`` and maybe ``encoder``)."""
    from datasets.demo import GOLD_PATH, TWEETS_PATH

    command("ingest.sh", str(TWEETS_PATH), "--quiet")
    command("split.sh", "--test", "200", "--dev", "100", "--lf", "300", "--seed", "0")
    command("import_labels.sh", str(GOLD_PATH), "--quiet")
    command("label.sh", "--quiet")
    runs = {"tfidf": command("train.sh", "--architecture", "tfidf", "--no-select", "--quiet")["run_id"]}
    if encoder_model:
        runs["encoder"] = command("train.sh", "--architecture", "encoder", "--no-select", "--quiet")["run_id"]
    return runs


def start_server(workers: int | None) -> tuple[subprocess.Popen, str]:
    from datasets.http_server import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "models.serving.serve", "--port", str(port)]
    cmd += ["--workers", str(workers)] if workers else []
    server = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    line = server.stdout.readline()
    while "http://" not in line:
        if server.poll() is not None:
            raise RuntimeError("server did not start:\n" + line + server.stdout.read())
        line = server.stdout.readline()
    threading.Thread(target=server.stdout.read, daemon=True).start()  # a full pipe would block it
    return server, f"http://127.0.0.1:{port}"


def wait_ready(url: str, run_id: int, timeout: float = 120) -> float:
    """Seconds until ``/readyz`` names ``run_id`` on 20 answers in a row (answers spread over
    the workers, so each has most likely loaded it)."""
    started = time.monotonic()
    streak = 0
    while streak < 20:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"run {run_id} not served within {timeout} s")
        r = requests.get(f"{url}/readyz", timeout=10)
        streak = streak + 1 if r.status_code == 200 and r.json()["run_id"] == run_id else 0
        time.sleep(0.02)
    return time.monotonic() - started


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` and its children so far."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def own_cpu_seconds() -> float:
    """CPU time of this process alone (the clients), not of the server it started."""
    times = psutil.Process().cpu_times()
    return times.user + times.system


def load(url: str, token: str, texts: list[str], clients: int, per_request: int, seconds: float,
         server_pid: int | None = None, bursts: bool = False) -> dict[str, Any]:
    """``clients`` threads sending ``per_request`` random texts per request for ``seconds``, each
    on its own keep-alive connection (``http.client``: a lighter client than ``requests``, which
    took more of the shared cores than the server did). Back to back, or with ``bursts`` in
    rounds: all clients send at once and the next round starts when every answer is in."""
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    deadline = time.perf_counter() + seconds
    stop = threading.Event()
    rounds = threading.Barrier(clients, action=lambda: stop.set() if time.perf_counter() > deadline else None)

    def more() -> bool:
        """Whether to send another request: in bursts, once every client is ready for the next round."""
        if not bursts:
            return time.perf_counter() < deadline
        rounds.wait()
        return not stop.is_set()

    def client(i: int) -> None:
        rng = random.Random(i)
        bodies = [json.dumps({"texts": rng.sample(texts, per_request)}).encode() for _ in range(50)]
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        n = 0
        while more():
            started = time.perf_counter()
            try:
                connection.request("POST", "/v1/predict", body=bodies[n % len(bodies)], headers=headers)
                response = connection.getresponse()
                answer = response.read()
                ok = response.status == 200 and len(json.loads(answer)["predictions"]) == per_request
                problem = str(response.status)
            except (OSError, http.client.HTTPException) as exc:
                ok, problem = False, type(exc).__name__
                connection.close()
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
            latencies[i].append(time.perf_counter() - started)
            if not ok:
                errors.append(problem)
            n += 1
        connection.close()

    started = time.perf_counter()
    cpu_before = (cpu_seconds(server_pid) if server_pid else 0.0, own_cpu_seconds())
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu = {"server_cores": round(((cpu_seconds(server_pid) if server_pid else 0.0) - cpu_before[0]) / elapsed, 2),
           "client_cores": round((own_cpu_seconds() - cpu_before[1]) / elapsed, 2)}
    flat = [x * 1000 for xs in latencies for x in xs]
    return {"cpu": cpu, "clients": clients, "bursts": bursts, "texts_per_request": per_request, "requests": len(flat), "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5], "seconds": round(elapsed, 2),
            "requests_per_s": round(len(flat) / elapsed, 1), "texts_per_s": round(len(flat) * per_request / elapsed, 1),
            "p50_ms": percentile(flat, 0.50), "p95_ms": percentile(flat, 0.95), "p99_ms": percentile(flat, 0.99)}


def run(args: Any) -> dict[str, Any]:
    home = tempfile.mkdtemp(prefix="goldloop-serve-bench-")
    os.environ["GOLDLOOP_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    from datasets.split_files import read_split
    from datasets.store import db
    from models import encoder

    server = None
    try:
        runs = prepare(encoder.available())
        texts = read_split(1, "train")["text"].tolist()
        command("model.sh", "promote", str(runs["tfidf"]), "--reason", "bench", "--actor", "bench")
        token = command("token.sh", "add", "bench")["token"]
        server, url = start_server(args.workers)
        results: dict[str, Any] = {}
        for name, run_id in runs.items():
            if name != "tfidf":
                command("model.sh", "promote", str(run_id), "--reason", "bench", "--actor", "bench", "--force")
            ready_s = wait_ready(url, run_id)
            for warm in (1, args.batch):  # warm-up: first calls of each worker (and the encoder's ONNX session)
                load(url, token, texts, 4, warm, 3)
            results[name] = {"run_id": run_id, "ready_seconds": round(ready_s, 2),
                             "burst": load(url, token, texts, args.users, 1, args.seconds, server.pid, bursts=True),
                             "single": load(url, token, texts, args.users, 1, args.seconds, server.pid),
                             "batch": load(url, token, texts, args.batch_clients, args.batch, args.seconds,
                                           server.pid)}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        db.reset_engines()
        db.embedded_server().cleanup()
        shutil.rmtree(home, ignore_errors=True)
    tfidf = results["tfidf"]
    errors = sum(r[s]["errors"] for r in results.values() for s in SCENARIOS)
    ok = (tfidf["burst"]["p95_ms"] is not None and tfidf["burst"]["p95_ms"] < P95_TARGET_MS
          and tfidf["batch"]["texts_per_s"] >= BATCH_TARGET_TEXTS_S and errors == 0)
    return {"models": results, "errors": errors, "cpus": os.cpu_count(), "load_average_1_5_15": os.getloadavg(), "workers": args.workers or "default",
            "targets": {"burst_p95_ms_below": P95_TARGET_MS, "batch_texts_per_s_at_least": BATCH_TARGET_TEXTS_S},
            "ok": ok}


def human(result: dict[str, Any]) -> str:
    lines = []
    for name, r in result["models"].items():
        for kind in SCENARIOS:
            s = r[kind]
            lines.append(f"{name:<8} {kind:<6} {s['clients']:>3} clients x {s['texts_per_request']:>4} texts: "
                         f"p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms, p99 {s['p99_ms']:.1f} ms, "
                         f"{s['requests_per_s']:.0f} req/s, {s['texts_per_s']:.0f} texts/s, {s['errors']} errors "
                         f"(CPU cores busy: server {s['cpu']['server_cores']}, clients {s['cpu']['client_cores']})")
    lines.append("load average (1, 5, 15 min) at the end: {:.1f} {:.1f} {:.1f}".format(*result["load_average_1_5_15"]))
    lines.append(f"targets (tfidf: burst p95 < {P95_TARGET_MS} ms, batch >= {BATCH_TARGET_TEXTS_S:.0f} texts/s,"
                 f" 0 errors): {'met' if result['ok'] else 'NOT met'}")
    return "\n".join(lines)


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    from datasets import cli, jsonout

    p = cli.parser("serve_load.py", __doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=15, help="length of each run (default 15)")
    p.add_argument("--users", type=int, default=20, help="clients sending one text each (default 20)")
    p.add_argument("--batch", type=int, default=256, help="texts per batch request (default 256)")
    p.add_argument("--batch-clients", type=int, default=2, help="clients sending batches (default 2)")
    p.add_argument("--workers", type=int, help="server worker processes (default: the server's)")
    args = p.parse_args()
    result = run(args)
    print(jsonout.dumps(result, sort_keys=True) if args.json else human(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
