"""Load test of the web tagger: annotators labeling at human speed through the JSON API.

Starts the production server (``python -m tagger_app.serve``, granian) on loopback against a
private embedded PostgreSQL in a temporary GOLDLOOP_HOME, seeds posts (one ``train`` split) and
annotator accounts, and runs two scenarios against it, one after the other:

* paced (the default, what the targets are about): ``--users`` annotators (50) who each fetch an
  item (``GET /api/next``), label it (``POST /api/submit``), then think for a time drawn uniformly
  from ``--think MIN,MAX`` seconds (1-3) before the next request, for ``--seconds`` (60);
* back to back (informative only, no target): ``--back-to-back-users`` (20) annotators with no
  think time for ``--back-to-back-seconds`` (20; 0 skips it). It measures capacity, not what a
  person sees: a closed loop's latency is just users / throughput.

Each scenario reports p50/p95/p99 latency per request kind (next, submit, all), throughput, and
four correctness figures, each of which must be 0:

* ``lost``: labels acknowledged with HTTP 201 missing from ``human_labels`` afterwards;
* ``assigned_twice``: post ids that two different annotators both received from ``/api/next``
  and both labeled (with ``annotations_per_item = 1`` and no skip or undo, the lease, 600 s or
  until answered, must keep everyone else off an item);
* ``false_exhausted``: ``/api/next`` answers without items that claim the queue is exhausted
  (field ``exhausted``; a server without it: any empty answer) while the database, checked right
  then, still has items of the split with no label in force and no unexpired lease;

plus ``errors`` (failed logins, non-2xx answers and failed connections, by request kind and
status), which must be none. Target (paced): p95 < 50 ms, lost = assigned_twice =
false_exhausted = 0. The exit status is 0 when every target is met and the back-to-back run, if
any, has no correctness failure or error either (its latency has no target).

    PYTHONPATH=. .venv/bin/python bench/tagger_load.py [--seconds 60] [--users 50] [--think 1,3]
        [--back-to-back-seconds 20] [--back-to-back-users 20] [--labeled N] [--json]

``--labeled N`` (default 20,000) starts from a queue with N items already labeled (the first in
queue order), as a project some hours into labeling has it: a queue whose cost grows with its
history shows it. Each annotator's first request starts at the queue's beginning, as a freshly
opened labeling page does; later ones send the ``cursor`` of the answer before.

Progress goes to stderr (tqdm), also with ``--json``.
"""
from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-test-password"
VERSION, SPLIT = 1, "train"  # the data-set version and split the benchmark seeds and labels
NEXT_PARAMS = {"queue": "split", "split": SPLIT, "n": 1}
TARGET = {"p95_ms": 50, "lost": 0, "assigned_twice": 0, "false_exhausted": 0}
OPEN_ITEMS_CAP = 1000  # the open-items check only needs "is there any": count at most this many
EMPTY_PAUSE_S = 0.1  # after an empty answer, pause at least this long (no busy loop back to back)
LOGIN_PATIENCE_S = 120  # a throttled login (HTTP 429) is retried after Retry-After (+ jitter) this long
REQUEST_TIMEOUT_S = 30


@dataclass(frozen=True)
class Scenario:
    """How many annotators work for how long, and how long each thinks between items."""

    name: str
    users: int
    seconds: float
    think_s: tuple[float, float]  # (0, 0): back to back
    guessers: int = 0             # threads guessing passwords meanwhile (an attacker on the login form)

    @property
    def paced(self) -> bool:
        """Human-paced scenarios carry the latency target; back-to-back runs are informative."""
        return self.think_s[1] > 0


@dataclass
class Served:
    """One item that ``/api/next`` handed to an annotator, and what became of the answer."""

    post_id: str
    annotator: str
    served_at: float
    label: str | None = None
    answered_at: float | None = None
    acknowledged: bool = False  # the submit got HTTP 201


@dataclass
class ClientLog:
    """What one annotator's client saw: request latencies, items served, empty answers, errors."""

    latencies: list[tuple[str, float]] = field(default_factory=list)  # (kind, seconds)
    served: list[Served] = field(default_factory=list)
    empty_answers: int = 0  # /api/next answers without items
    exhausted_claims: list[int] = field(default_factory=list)  # open items found when one claimed "exhausted"
    errors: Counter[str] = field(default_factory=Counter)  # "next HTTP 500", "submit ConnectionError"
    error_bodies: dict[str, str] = field(default_factory=dict)  # the first answer's text per error kind
    login_refusals: int = 0  # logins answered 429 (retried; logins are not part of the measured window)
    finished_at: float = 0.0  # when this annotator's last request ended (time.monotonic)


class Annotator:
    """One annotator's HTTP session: a ``requests.Session`` (keep-alive, session cookie) and the
    CSRF token every POST needs (from ``/api/me``, sent as ``X-CSRFToken``)."""

    def __init__(self, base_url: str, name: str) -> None:
        self.base_url = base_url
        self.name = name
        self.http = requests.Session()
        self.csrf = ""

    def login(self, rng: random.Random, log: ClientLog) -> None:
        """Log in through the form, as a browser does. A server may refuse logins with 429 while
        it hashes another password: wait Retry-After plus a random part of a second (retries in
        step would collide again) and try again, counting each refusal in ``log.login_refusals``."""
        give_up = time.monotonic() + LOGIN_PATIENCE_S
        while True:
            page = self.http.get(self.base_url + "/login", timeout=REQUEST_TIMEOUT_S).text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            answer = self.http.post(self.base_url + "/login", timeout=REQUEST_TIMEOUT_S, allow_redirects=False,
                                    data={"csrf_token": token, "name": self.name, "password": PASSWORD})
            if answer.status_code != 429 or time.monotonic() > give_up:
                break
            log.login_refusals += 1
            time.sleep(float(answer.headers.get("Retry-After") or 1) + rng.random())
        if answer.status_code not in (302, 303):
            raise RuntimeError(f"login of {self.name} failed: HTTP {answer.status_code}")
        self.csrf = self.http.get(self.base_url + "/api/me", timeout=REQUEST_TIMEOUT_S).json()["csrf_token"]

    def call(self, log: ClientLog, kind: str, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        """One timed request of ``kind`` (next or submit); None when the connection failed."""
        t0 = time.perf_counter()
        try:
            answer = self.http.request(method, self.base_url + path, timeout=REQUEST_TIMEOUT_S, **kwargs)
        except requests.RequestException as exc:
            log.latencies.append((kind, time.perf_counter() - t0))
            log.errors[f"{kind} {type(exc).__name__}"] += 1
            return None
        log.latencies.append((kind, time.perf_counter() - t0))
        if answer.status_code >= 300:
            log.errors[f"{kind} HTTP {answer.status_code}"] += 1
            log.error_bodies.setdefault(f"{kind} HTTP {answer.status_code}", answer.text[:200].strip())
        return answer


def open_items(engine, task: str) -> int:
    """Items of the benchmark's split that nobody may be refused, counted up to ``OPEN_ITEMS_CAP``:
    only "none" vs "some" matters, and the check runs during the load."""
    from datasets.store import leases

    with engine.connect() as conn:
        return leases.count_claimable(conn, task, VERSION, SPLIT, OPEN_ITEMS_CAP)


def choose_label(post_id: str, labels: list[str]) -> str:
    """A label that depends on the post only, so that reruns write the same labels."""
    return labels[int(hashlib.md5(post_id.encode()).hexdigest(), 16) % len(labels)]


@dataclass
class System:
    """The system under test: the server's URL and process, the database, the task's name and labels."""

    base_url: str
    server_pid: int
    engine: Any  # sqlalchemy Engine of the private PostgreSQL
    postgres_pid: int
    task: str
    labels: list[str]


class Window:
    """The measured window of a scenario: it opens when every annotator has logged in (the action
    of the barrier they all wait at, so it is set before any of them goes on)."""

    def __init__(self, parties: int, seconds: float) -> None:
        self.seconds = seconds
        self.start = self.end = 0.0
        self.barrier = threading.Barrier(parties, action=self._open)

    def _open(self) -> None:
        self.start = time.monotonic()
        self.end = self.start + self.seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()


def annotate(system: System, scenario: Scenario, window: Window, user: Annotator, rng: random.Random,
             log: ClientLog) -> None:
    """One annotator's session: log in, wait for everyone, then fetch - label - think until the
    window closes. A client-side failure is counted in ``log.errors`` (and ends this annotator's
    session) rather than lost with its thread."""
    try:
        user.login(rng, log)
    except Exception as exc:  # noqa: BLE001 - any failure: still meet the others at the barrier, or the run hangs
        log.errors[f"login {type(exc).__name__}: {exc}"] += 1
        window.barrier.wait()
        return
    window.barrier.wait()
    try:
        _work(system, scenario, window, user, rng, log)
    except Exception as exc:  # noqa: BLE001 - counted as an error of the run, not lost with the thread
        log.errors[f"client {type(exc).__name__}: {exc}"] += 1


def _work(system: System, scenario: Scenario, window: Window, user: Annotator, rng: random.Random,
          log: ClientLog) -> None:
    """The fetch - label - think loop of ``annotate``. It starts after a random part of one think
    time, so that requests arrive spread out as from people already at work, not all at once."""
    low, high = scenario.think_s
    time.sleep(rng.uniform(0, high))
    cursor: dict[str, str] = {}  # where the queue resumes, as the labeling page sends it
    while window.remaining() > 0:
        answer = user.call(log, "next", "GET", "/api/next", params={**NEXT_PARAMS, **cursor})
        if answer is None or answer.status_code != 200:
            time.sleep(max(high, EMPTY_PAUSE_S))
            continue
        served_at = time.monotonic()
        data = answer.json()
        if data.get("cursor"):
            cursor = {"cursor": data["cursor"]}
        items = data.get("items") or []
        if not items:
            log.empty_answers += 1
            if data.get("exhausted", True):  # an old server has no such field: then empty means exhausted
                log.exhausted_claims.append(open_items(system.engine, system.task))
            time.sleep(max(rng.uniform(low, high), EMPTY_PAUSE_S))
            continue
        item = Served(items[0]["post_id"], user.name, served_at, label=choose_label(items[0]["post_id"], system.labels))
        log.served.append(item)
        think_ms = int(1000 * rng.uniform(low, high))
        answer = user.call(log, "submit", "POST", "/api/submit", headers={"X-CSRFToken": user.csrf},
                           json={**NEXT_PARAMS, "post_id": item.post_id, "label": item.label, "duration_ms": think_ms})
        item.answered_at = time.monotonic()
        item.acknowledged = answer is not None and answer.status_code == 201
        log.finished_at = item.answered_at
        time.sleep(min(think_ms / 1000, max(0.0, window.remaining())))


def percentiles(seconds: list[float]) -> dict[str, float | int | None]:
    """p50/p95/p99 in ms (nearest rank) and the count."""
    values = sorted(seconds)
    at = (lambda q: round(1000 * values[min(len(values) - 1, int(q * len(values)))], 2)) if values else (lambda q: None)
    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(values)}


def cpu_seconds(processes: dict[int, psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by each live process, by pid."""
    out = {}
    for pid, proc in processes.items():
        try:
            t = proc.cpu_times()
            out[pid] = t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return out


def process_tree(pid: int) -> dict[int, psutil.Process]:
    """A process and all its descendants (the server's workers; PostgreSQL's backends)."""
    root = psutil.Process(pid)
    return {p.pid: p for p in [root, *root.children(recursive=True)]}


def guess_passwords(base_url: str, window: Window, answers: Counter) -> None:
    """Post wrong passwords for an annotator's account through the login form, as fast as the
    server answers, until the window closes; count the answers by status."""
    http = requests.Session()
    window.barrier.wait(timeout=120)
    while window.remaining() > 0:
        page = http.get(base_url + "/login", timeout=REQUEST_TIMEOUT_S).text
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        answer = http.post(base_url + "/login", timeout=REQUEST_TIMEOUT_S, allow_redirects=False,
                           data={"csrf_token": token, "name": "load00", "password": "not the password"})
        answers[answer.status_code] += 1


def run_scenario(system: System, scenario: Scenario) -> dict[str, Any]:
    """Run one scenario against the running server and return its figures."""
    logs = [ClientLog() for _ in range(scenario.users)]
    window = Window(scenario.users + 1 + scenario.guessers, scenario.seconds)
    guesses: Counter = Counter()
    for _ in range(scenario.guessers):
        threading.Thread(target=guess_passwords, args=(system.base_url, window, guesses), daemon=True).start()
    threads = [threading.Thread(target=annotate, daemon=True, args=(
                   system, scenario, window, Annotator(system.base_url, f"load{u:02d}"), random.Random(u), logs[u]))
               for u in range(scenario.users)]
    for t in threads:
        t.start()
    server_procs = process_tree(system.server_pid)
    window.barrier.wait(timeout=120)  # logins are not measured
    server_cpu, pg_cpu = cpu_seconds(server_procs), cpu_seconds(process_tree(system.postgres_pid))
    client_cpu, load_before = time.process_time(), os.getloadavg()[0]
    with tqdm(total=round(scenario.seconds), unit="s", desc=scenario.name, file=sys.stderr) as bar:
        while any(t.is_alive() for t in threads):
            time.sleep(1)
            bar.n = min(round(time.monotonic() - window.start), bar.total)
            bar.set_postfix(items=sum(len(log.served) for log in logs),
                            errors=sum(sum(log.errors.values()) for log in logs), refresh=True)
    elapsed = max(window.seconds, max(log.finished_at for log in logs) - window.start)  # the last answer may end late
    load_after = os.getloadavg()[0]
    pg_after = cpu_seconds(process_tree(system.postgres_pid))  # backends opened during the run started at 0
    cpu = {"server": sum(cpu_seconds(server_procs).values()) - sum(server_cpu.values()),
           "postgres": sum(t - pg_cpu.get(pid, 0.0) for pid, t in pg_after.items()),
           "client": time.process_time() - client_cpu}
    result = figures(scenario, logs, system, elapsed, cpu, (load_before, load_after))
    if scenario.guessers:
        result["password_guesses"] = {str(status): n for status, n in sorted(guesses.items())}
    return result


def figures(scenario: Scenario, logs: list[ClientLog], system: System, elapsed: float,
            cpu: dict[str, float], load: tuple[float, float]) -> dict[str, Any]:
    """Latency, throughput and correctness figures of one scenario from what the clients recorded
    and what ``human_labels`` holds afterwards."""
    from datasets.store import labels

    latencies = [lat for log in logs for lat in log.latencies]
    served = [s for log in logs for s in log.served]
    acked = [s for s in served if s.acknowledged]
    with system.engine.connect() as conn:
        stored = labels.label_rows(conn, system.task)
    served_to: dict[str, set[str]] = defaultdict(set)
    labeled_by: dict[str, set[str]] = defaultdict(set)
    for s in served:
        served_to[s.post_id].add(s.annotator)
        if s.acknowledged:
            labeled_by[s.post_id].add(s.annotator)
    twice = sorted(post_id for post_id, who in labeled_by.items() if len(who) > 1)
    claims = [n for log in logs for n in log.exhausted_claims]
    errors = sum((log.errors for log in logs), Counter())
    result = {
        "scenario": scenario.name, "users": scenario.users, "seconds": round(elapsed, 1),
        "think_s": list(scenario.think_s),
        "requests": len(latencies), "requests_per_s": round(len(latencies) / elapsed, 1),
        "labels_acknowledged": len(acked), "labels_per_s": round(len(acked) / elapsed, 2),
        "latency_ms": {kind: percentiles([dt for k, dt in latencies if kind in (k, "all")])
                       for kind in ("next", "submit", "all")},
        "lost": sum(1 for s in acked if (s.annotator, s.post_id, s.label) not in stored),
        "assigned_twice": len(twice), "assigned_twice_examples": twice[:5],
        "served_to_two": sum(1 for who in served_to.values() if len(who) > 1),  # informative: labeled or not
        "false_exhausted": sum(1 for n in claims if n > 0),
        "empty_answers": sum(log.empty_answers for log in logs), "exhausted_answers": len(claims),
        "errors": dict(sorted(errors.items())), "login_refusals": sum(log.login_refusals for log in logs),
        "error_examples": {k: v for log in logs for k, v in log.error_bodies.items()},
        "cpu_ms_per_request": {k: round(1000 * v / max(len(latencies), 1), 2) for k, v in cpu.items()},
        "load_average_1min": {"before": round(load[0], 2), "after": round(load[1], 2)},
    }
    correct = not errors and all(result[k] == 0 for k in ("lost", "assigned_twice", "false_exhausted"))
    p95 = result["latency_ms"]["all"]["p95"]
    result["target"] = TARGET if scenario.paced else None
    result["ok"] = correct and (not scenario.paced or (p95 is not None and p95 < TARGET["p95_ms"]))
    return result


def seed(engine, task: str, label: str, n_posts: int, labeled: int, users: int) -> None:
    """Posts (one ``train`` split of version 1, larger than any run can label, so the queue never
    truly runs out), annotator accounts, and planner statistics as a database in use has them.

    ``labeled`` items already carry a label (annotator ``import:bench``): the first ones in queue
    order, as earlier sessions of the same queue would have left them. A queue that walks past
    answered items costs more per request as that history grows; this shows it."""
    from datasets.store import annotators, db, labels, posts, sql, versions

    ids = [f"b{i:07d}" for i in range(n_posts)]
    hashes = [hashlib.md5(str(i).encode()).hexdigest() for i in range(n_posts)]
    with sql.transaction(engine) as conn:
        versions.create(conn, VERSION, seed=0)
        posts.add_bare(conn, ((post_id, f"synthetic post number {i} about #data and https://example.com/{i}")
                              for i, post_id in enumerate(ids)))
        versions.copy_members(conn, zip([VERSION] * n_posts, ids, [SPLIT] * n_posts, hashes))
        for u in range(users):
            annotators.add(conn, f"load{u:02d}", PASSWORD)
        first_in_queue = [post_id for _, post_id in sorted(zip(hashes, ids))[:labeled]]  # the split queue's order
        labels.append_labels(conn, task=task, annotator="import:bench", source="import",
                             labels=((post_id, label, {}) for post_id in first_in_queue))
    db.vacuum_analyze(engine)


def start_server(database_url: str, server_processes: int | None,
                 threads: int | None) -> tuple[subprocess.Popen, str, list[str]]:
    """Start ``python -m tagger_app.serve`` on a free loopback port (the server's own defaults
    unless told, as ``bin/tagger.sh``); return it, its URL and the list its output keeps going to."""
    from tagger_app.serve import free_port

    port = free_port()
    cmd = [sys.executable, "-m", "tagger_app.serve", "--port", str(port)]
    cmd += ["--processes", str(server_processes)] if server_processes else []
    cmd += ["--threads", str(threads)] if threads else []
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(REPO_ROOT)}
    server = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = [server.stdout.readline()]  # the URL comes once the server answers, maybe after log lines
    while "http://" not in lines[-1]:
        if server.poll() is not None:
            raise RuntimeError("server did not start:\n" + "".join(lines) + server.stdout.read())
        lines.append(server.stdout.readline())
    log: list[str] = []  # keep reading the server's output: a full pipe would block its logging
    threading.Thread(target=lambda: log.extend(server.stdout), daemon=True).start()
    return server, f"http://127.0.0.1:{port}", log


@contextmanager
def private_workspace() -> Iterator[tuple[Any, Any]]:
    """A fresh ``GOLDLOOP_HOME`` with its own embedded PostgreSQL for the block: yields its engine
    and the default task, then stops that server and removes the workspace. Imports wait until
    the workspace is set, since the store reads it on import."""
    home = tempfile.mkdtemp(prefix="goldloop-bench-")
    os.environ["GOLDLOOP_HOME"] = home
    os.environ.pop("DATABASE_URL", None)
    from datasets.store import db
    from labeling.task import load_task

    engine = db.get_engine()
    try:
        yield engine, load_task()
    finally:
        engine.dispose()
        db.reset_engines()
        db.embedded_server().cleanup()  # stop the private PostgreSQL, then remove its workspace
        shutil.rmtree(home, ignore_errors=True)


def run(scenarios: list[Scenario], posts: int, labeled: int, server_processes: int | None,
        threads: int | None) -> dict[str, Any]:
    """Run the scenarios in one private workspace (one server, one database) and return the figures."""
    with private_workspace() as (engine, task):
        from datasets.store import db

        seed(engine, task.name, task.labels[0], posts, labeled, max(s.users for s in scenarios))
        server, base_url, server_log = start_server(db.database_url(), server_processes, threads)
        try:
            system = System(base_url, server.pid, engine, db.embedded_server().get_pid(), task.name, list(task.labels))
            results = [run_scenario(system, s) for s in scenarios]
        finally:
            server.terminate()
            server.wait(timeout=30)
    problems = [line.rstrip() for line in server_log if re.search(r"Traceback|ERROR|Exception", line)]
    return {"scenarios": results, "posts": posts, "labeled_before": labeled, "task": task.name,
            "annotations_per_item": task.section("tagger").get("annotations_per_item", 1),  # assigned_twice assumes 1
            "server": {"processes": server_processes or "default", "threads": threads or "default",
                       "log_problem_lines": len(problems), "log_problems_first": problems[:5]},
            "cpus": os.cpu_count(), "ok": all(r["ok"] for r in results)}


def _mark(value: float | None, limit: float, below: bool) -> str:
    """'met' / 'NOT met' for a figure against its target."""
    ok = value is not None and (value < limit if below else value == limit)
    return "met" if ok else "NOT met"


def human(result: dict[str, Any]) -> str:
    """The text report: one block per scenario, targets next to the figures of the paced one."""
    out = [(f"granian: processes {result['server']['processes']}, threads {result['server']['threads']}; "
            f"{result['posts']} posts ({result['labeled_before']} labeled before), task {result['task']} (annotations_per_item {result['annotations_per_item']}); "
            f"{result['cpus']} CPUs, shared: see the load averages")]
    for r in result["scenarios"]:
        target = r["target"]
        think = f"think {r['think_s'][0]:g}-{r['think_s'][1]:g} s" if target else "no think time, informative only"
        out.append(f"\n{r['scenario']}: {r['users']} annotators, {think}, {r['seconds']} s")
        out.append(f"  {r['labels_acknowledged']} labels ({r['labels_per_s']}/s), {r['requests']} requests "
                   f"({r['requests_per_s']}/s)")
        out.append("  latency ms      p50      p95      p99        n")
        for kind, p in r["latency_ms"].items():
            out.append(f"    {kind:<10} {p['p50']!s:>8} {p['p95']!s:>8} {p['p99']!s:>8} {p['n']:>8}"
                       + (f"   target p95 < {target['p95_ms']} ms: {_mark(p['p95'], target['p95_ms'], True)}"
                          if target and kind == "all" else ""))
        for key in ("lost", "assigned_twice", "false_exhausted"):
            out.append(f"  {key:<16} {r[key]:>5}   target 0: {_mark(r[key], 0, False)}")
        out.append(f"  errors (must be none): {', '.join(f'{k} x{v}' for k, v in r['errors'].items()) or 'none'}")
        out.extend(f"    {k}: {text}" for k, text in r["error_examples"].items())
        if "password_guesses" in r:
            out.append("  password guesses meanwhile, by HTTP status: "
                       + ", ".join(f"{status} x{n}" for status, n in r["password_guesses"].items()))
        out.append(f"  empty /api/next answers {r['empty_answers']} (claiming exhausted {r['exhausted_answers']}),"
                   f" items served to two annotators {r['served_to_two']},"
                   f" logins refused with 429 and retried {r['login_refusals']}")
        cpu = r["cpu_ms_per_request"]
        out.append(f"  CPU ms/request: server {cpu['server']}, PostgreSQL {cpu['postgres']}, load generator "
                   f"{cpu['client']}; load average (1 min) {r['load_average_1min']['before']} -> "
                   f"{r['load_average_1min']['after']}")
    if result["server"]["log_problem_lines"]:
        out.append(f"\nserver log: {result['server']['log_problem_lines']} error lines, first: "
                   + " | ".join(result["server"]["log_problems_first"]))
    out.append(f"\nall targets met: {'yes' if result['ok'] else 'NO'}")
    return "\n".join(out)


def _think(text: str) -> tuple[float, float]:
    """``MIN,MAX`` seconds (or one number for a fixed time; 0 = back to back)."""
    low, _, high = text.partition(",")
    bounds = (float(low), float(high or low))
    if not 0 <= bounds[0] <= bounds[1]:
        raise ValueError(text)
    return bounds


def main() -> int:
    sys.path.insert(0, str(REPO_ROOT))
    from datasets import cli, jsonout

    p = cli.parser("tagger_load.py", __doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60, help="length of the paced run (default 60)")
    p.add_argument("--users", type=int, default=50, help="annotators working at once (default 50)")
    p.add_argument("--think", type=_think, default=(1.0, 3.0), metavar="MIN,MAX",
                   help="think time after each label, uniform in seconds (default 1,3; 0: back to back, no target)")
    p.add_argument("--back-to-back-seconds", type=float, default=20,
                   help="then a run without think time, informative only (default 20; 0 skips it)")
    p.add_argument("--back-to-back-users", type=int, default=20, help="annotators of that run (default 20)")
    p.add_argument("--processes", "--server-processes", dest="server_processes", type=int,
                   help="server worker processes (default: the server's, as bin/tagger.sh)")
    p.add_argument("--threads", type=int, help="application threads per server process (default: the server's)")
    p.add_argument("--posts", type=int, default=100_000, help="posts seeded in the train split (default 100,000)")
    p.add_argument("--guessers", type=int, default=0,
                   help="threads posting wrong passwords to the login form during the main run (default 0)")
    p.add_argument("--labeled", type=int, default=20_000,
                   help="of which already labeled, the first in queue order, as earlier sessions leave them"
                        " (default 20,000)")
    args = p.parse_args()
    scenarios = [Scenario("paced" if args.think[1] > 0 else "back to back", args.users, args.seconds, args.think,
                          args.guessers)]
    if args.think[1] > 0 and args.back_to_back_seconds > 0:
        scenarios.append(Scenario("back to back", args.back_to_back_users, args.back_to_back_seconds, (0.0, 0.0)))
    result = run(scenarios, args.posts, args.labeled, args.server_processes, args.threads)
    print(jsonout.dumps(result, sort_keys=True) if args.json else human(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
