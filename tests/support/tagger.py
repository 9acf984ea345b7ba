"""The tagger tests' helpers: seeded posts, accounts, a logged-in API client, a real server."""
from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from datasets.store import annotators
from tagger_app.serve import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"
XSS_TEXT = "<script>alert(1)</script>"


def seed_posts(engine: sa.engine.Engine, counts: dict[str, int], texts: dict[str, str] | None = None) -> dict[str, list[str]]:
    """Insert posts and data-set version 1 with ``counts`` posts per split; return split -> post ids."""
    texts = texts or {}
    by_split: dict[str, list[str]] = {}
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO dataset_versions (version, seed) VALUES (1, 0)"))
        for split, n in counts.items():
            for i in range(n):
                post_id = f"{split}{i:04d}"
                text = texts.get(post_id, f"post {post_id} about #MachineLearning at https://example.com/{post_id}")
                conn.execute(sa.text("INSERT INTO raw_posts (id, text, author) VALUES (:i, :t, 'someone')"),
                             {"i": post_id, "t": text})
                conn.execute(sa.text("INSERT INTO split_members (version, post_id, split, norm_hash) "
                                     "VALUES (1, :i, :s, :h)"),
                             {"i": post_id, "s": split, "h": hashlib.md5(post_id.encode()).hexdigest()})
                by_split.setdefault(split, []).append(post_id)
    return by_split


def split_order(ids: list[str]) -> list[str]:
    """The order the sequential split queue serves ``ids`` in (md5 of the id, as seeded)."""
    return sorted(ids, key=lambda i: hashlib.md5(i.encode()).hexdigest())


def add_annotator(engine: sa.engine.Engine, name: str, role: str = "annotator") -> None:
    """Create account ``name`` with the shared test password."""
    with engine.begin() as conn:
        annotators.add(conn, name, PASSWORD, role=role)


def current_labels(engine: sa.engine.Engine, annotator: str, task: str = "ai_tweets") -> dict[str, str]:
    """post id -> label in force for one annotator."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT post_id, label FROM annotator_labels WHERE task = :t AND annotator = :a "
                                    "AND action = 'label'"), {"t": task, "a": annotator})
        return dict(rows.all())


@dataclass
class Server:
    """A real ``bin/tagger.sh`` (granian) subprocess."""

    port: int
    proc: subprocess.Popen | None = None
    args: tuple[str, ...] = ()  # more bin/tagger.sh options, e.g. ("--task", path)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Server":
        """Start it and wait until it prints its URL and answers."""
        self.proc = subprocess.Popen([str(REPO_ROOT / "bin" / "tagger.sh"), "--port", str(self.port), *self.args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        line = self.proc.stdout.readline()
        deadline = time.monotonic() + 60
        while not re.search(r"http://127\.0\.0\.1:\d+/", line):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"tagger did not start: {line}{self.proc.stdout.read() if self.proc.poll() is not None else ''}")
            line = self.proc.stdout.readline()
        # keep draining its output: a full pipe would block the server's logging
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server process and wait for it to end."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)


@pytest.fixture()
def server(engine: sa.engine.Engine) -> Iterator[Server]:
    """A running tagger server on a free port, against the test database."""
    srv = Server(free_port()).start()
    yield srv
    srv.kill(signal.SIGTERM)


def login(client, name: str, password: str = PASSWORD):
    """Log a Flask test client in through the real form (CSRF token included); return the response."""
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post("/login", data={"csrf_token": token, "name": name, "password": password})


class Client:
    """A logged-in annotator talking to the JSON API."""

    def __init__(self, app, name: str) -> None:
        self.http: FlaskClient = app.test_client()
        assert login(self.http, name).status_code == 302
        self.token = self.http.get("/api/me").get_json()["csrf_token"]

    def next(self, **params) -> dict:
        r = self.http.get("/api/next", query_string=params)
        assert r.status_code == 200
        return r.get_json()

    def ids(self, **params) -> list[str]:
        return [i["post_id"] for i in self.next(**params)["items"]]

    def post(self, path: str, body: dict):
        return self.http.post(path, json=body, headers={"X-CSRFToken": self.token})

    def submit(self, **body) -> dict:
        r = self.post("/api/submit", body)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def form(self, path: str, data: dict):
        page = self.http.get("/label").get_data(as_text=True)
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        return self.http.post(path, data={**data, "csrf_token": token})
