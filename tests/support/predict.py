"""A real ``bin/serve.sh`` (granian) subprocess for the predict API's tests, and a token to call it."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from datasets.http_server import free_port
from models.serving import token_cli
from tests.conftest import REPO_ROOT


@dataclass
class PredictServer:
    """``bin/serve.sh --task TASK`` on a free port with ``extra`` options."""

    task: Path
    extra: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> PredictServer:
        """Start it and wait until it prints its URL (it answers then; the model may still load)."""
        self.proc = subprocess.Popen([str(REPO_ROOT / "bin" / "serve.sh"), "--task", str(self.task),
                                      "--port", str(self.port), "--workers", "1", *self.extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + 90
        line = self.proc.stdout.readline()
        while not re.search(rf"http://127\.0\.0\.1:{self.port}/", line):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"bin/serve.sh did not start: {line}{self.proc.stdout.read() if self.proc.poll() is not None else ''}")
            line = self.proc.stdout.readline()
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # a full pipe would block it
        return self

    def wait_ready(self, run_id: int, timeout: float = 60) -> None:
        """Wait until ``/readyz`` says run ``run_id`` is served."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = requests.get(f"{self.url}/readyz", timeout=5)
            if ready.status_code == 200 and ready.json()["run_id"] == run_id:
                return
            time.sleep(0.1)
        raise AssertionError(f"run {run_id} not served within {timeout} s: {ready.status_code} {ready.text}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)


def new_token(name: str = "client") -> str:
    """A fresh API token (``bin/token.sh add`` as a function)."""
    return token_cli.add(name).token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
