"""Collector files for the URL store and stream tests: Twitter v1.1 statuses with links and
media, written as a collector would (under a temporary name, then renamed into place); and the
wait for a stream worker running in its own process."""
from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import sqlalchemy as sa

from datasets.store import registry, sql

CREATED = "Sun Apr 05 10:46:44 +0000 2020"


def tweet(i: int, links: Sequence[str] = (), media: Sequence[str] = (), created: str = CREATED,
          text: str | None = None) -> str:
    """Status ``1000 + i`` as one JSON line, with expanded ``links`` and ``media`` URLs."""
    return json.dumps({
        "created_at": created, "id_str": str(1000 + i), "text": text or f"post {i}",
        "user": {"screen_name": "a", "id_str": "1"},
        "entities": {"hashtags": [], "user_mentions": [],
                     "urls": [{"url": f"https://t.co/{i}{n}", "expanded_url": u} for n, u in enumerate(links)],
                     "media": [{"url": f"https://t.co/m{i}{n}", "media_url_https": u, "type": "photo"}
                               for n, u in enumerate(media)]}})


def drop(directory: Path, name: str, lines: Sequence[str]) -> Path:
    """Write ``lines`` to ``directory/name`` atomically, as collectors are asked to."""
    tmp = directory / f"{name}.tmp"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, directory / name)
    return directory / name


def promote(engine: sa.engine.Engine, task: str, run_id: int) -> int:
    """Make ``run_id`` the production model of ``task`` (what ``bin/model.sh promote`` records)."""
    with sql.transaction(engine) as conn:
        previous = registry.latest_event(conn, task)
        return registry.append(conn, task=task, action="promote", run_id=run_id,
                               previous_run_id=previous.run_id if previous else None, actor="test", reason="test",
                               forced=True, comparison={}).id


def wait_for(condition: Callable[[], bool], worker: subprocess.Popen, what: str, timeout: float) -> None:
    """Poll ``condition`` until it holds; fail with the worker's stderr if it exits first, or
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited ({worker.returncode}) waiting for {what}: {worker.stderr.read()}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
