"""Tune the encoder in a background process, so a loop iteration at a label milestone does not wait.

At a milestone (:mod:`models.finetune`) the tuned encoder is a new encoder: tuning takes about 2
minutes for 500 labels and encoding a 100,000-post pool with it about 5 more on 2 cores, while an
iteration between milestones takes under half a minute (docs/benchmarks.md, bench/loop.py). The
people labeling should not wait for that, so a loop iteration at a milestone trains with the
encoder it already has (cached embeddings) and starts this job, which tunes a fresh copy of the
base encoder on the golden labels, saves it to the workspace and encodes every post of the data-set
version with it into the embedding cache. The first training after the job is done reads the tuned
encoder at the cost of an ordinary iteration; until then trainings say the job is running.

One job per task at a time, in ``$GOLDLOOP_HOME/encoders/jobs/<task>/``: ``job.json`` (its state,
replaced atomically), ``log.txt`` (the child's progress bars and any traceback) and the inputs
(golden texts and labels, posts to encode; removed when the job ends). The child needs no
database, so it is independent of the server's lifetime. A job whose process is gone without
writing its end (killed, machine restarted) reads as failed.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from datasets import workspace
from datasets.workspace import encoders_dir
from models import encoder

JOB_FILE = "job.json"
LOG_FILE = "log.txt"
GOLDEN_FILE = "golden.parquet"   # text, y: what the encoder is tuned on
POSTS_FILE = "posts.parquet"     # id, text: what is encoded with the tuned encoder
RUNNING, DONE, FAILED = "running", "done", "failed"
_children: dict[int, subprocess.Popen] = {}   # jobs this process started, reaped when read


@dataclass(frozen=True)
class TuningJob:
    """State of a task's background tuning (``job.json``)."""

    task: str
    base: str
    golden_labels: int
    pairs_per_label: int
    seed: int
    posts: int                   # posts encoded with the tuned encoder once it is saved
    status: str                  # running | done | failed
    pid: int
    started_at: str
    finished_at: str | None = None
    encoder: str | None = None   # the tuned encoder's name once saved
    seconds: float | None = None
    error: str | None = None

    @property
    def log(self) -> Path:
        """The child's output: progress bars, and the traceback when it failed."""
        return job_dir(self.task) / LOG_FILE


@dataclass(frozen=True)
class Background:
    """Where a training tunes in the background: the task's job, then these posts encoded."""

    task: str
    ids: list[str]
    texts: list[str]


def job_dir(task: str) -> Path:
    """The task's job directory (one job per task: a new one replaces the files of the last)."""
    return encoders_dir() / "jobs" / task


def _write(job: TuningJob) -> TuningJob:
    """Replace ``job.json`` atomically: a reader sees the old state or the new one, never half."""
    path = job_dir(job.task) / JOB_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(job), indent=2))
    os.replace(tmp, path)
    return job


def _alive(pid: int) -> bool:
    """Whether the job process ``pid`` still runs: a finished child of this process is reaped
    first, and on Linux the id must still run this module (after a restart it may be another
    program's)."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    if Path("/proc/self/cmdline").exists():
        try:
            return __spec__.name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:   # no such process (any more)
            return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):   # gone, or the id now belongs to someone else
        return False
    return True


def read(task: str) -> TuningJob | None:
    """The task's newest job, or None; a ``running`` job whose process is gone reads as failed."""
    path = job_dir(task) / JOB_FILE
    if not path.exists():
        return None
    job = TuningJob(**json.loads(path.read_text()))
    if job.status == RUNNING and not _alive(job.pid):
        job = TuningJob(**json.loads(path.read_text()))   # it may have written its end meanwhile
        if job.status == RUNNING:
            job = _write(dataclasses.replace(job, status=FAILED, finished_at=_now(),
                                             error=f"the process stopped without finishing; see {job.log}"))
    return job


def current_or_start(base: str, golden_texts: list[str], golden_y: np.ndarray, background: Background, *,
                     pairs_per_label: int, seed: int) -> TuningJob:
    """The job that answers this milestone: the task's running job, the failed job on as many labels
    (reported, not retried until more labels arrive), or a new job on these labels.

    The job directory's lock covers the check, the inputs, the start and ``job.json``: two trainings
    at once start one job, and the child (which takes the lock before reading) sees its own file.
    """
    directory = job_dir(background.task)
    directory.mkdir(parents=True, exist_ok=True)
    with encoder.locked(directory):
        job = read(background.task)
        if job is not None and (job.status == RUNNING or (job.status == FAILED and job.base == base
                                                          and job.golden_labels >= len(golden_texts))):
            return job
        pd.DataFrame({"text": golden_texts, "y": np.asarray(golden_y, dtype=int)}).to_parquet(directory / GOLDEN_FILE)
        pd.DataFrame({"id": background.ids, "text": background.texts}).to_parquet(directory / POSTS_FILE)
        with (directory / LOG_FILE).open("w") as log:
            child = subprocess.Popen([sys.executable, "-m", "models.tuning_job", background.task],
                                     cwd=workspace.REPO_ROOT, stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     env={**os.environ, "GOLDLOOP_HOME": str(workspace.home())})
        _children[child.pid] = child
        return _write(TuningJob(task=background.task, base=base, golden_labels=len(golden_texts),
                                pairs_per_label=pairs_per_label, seed=seed, posts=len(background.ids),
                                status=RUNNING, pid=child.pid, started_at=_now()))


def wait(task: str, timeout: float, poll: float = 1.0) -> TuningJob:
    """Block until the task's job has ended (done or failed), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (job := read(task)) is not None and job.status == RUNNING:
        if time.monotonic() > deadline:
            raise TimeoutError(f"encoder tuning of task {task!r} still running after {timeout:.0f} s; see {job.log}")
        time.sleep(poll)
    if job is None:
        raise FileNotFoundError(f"no encoder tuning job for task {task!r}")
    return job


def stop_started() -> None:
    """Kill the jobs this process started that still run (their ``job.json`` then reads failed)."""
    for child in _children.values():
        if child.poll() is None:
            child.kill()
            child.wait()
    _children.clear()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(task: str) -> TuningJob:
    """The child's work: tune, save, encode the posts, record the end (done or failed)."""
    from models import finetune  # noqa: PLC0415 (it imports this module)

    directory = job_dir(task)
    with encoder.locked(directory):   # released by the parent once job.json names this process
        job = TuningJob(**json.loads((directory / JOB_FILE).read_text()))
    started = time.perf_counter()
    try:
        golden, posts = pd.read_parquet(directory / GOLDEN_FILE), pd.read_parquet(directory / POSTS_FILE)
        choice = finetune.tune(job.base, golden["text"].tolist(), golden["y"].to_numpy(), progress=True,
                               pairs_per_label=job.pairs_per_label, seed=job.seed)
        job = _write(dataclasses.replace(job, encoder=choice.name))
        encoder.embed(posts["id"].tolist(), posts["text"].tolist(), choice.name, progress=True)
        job = dataclasses.replace(job, status=DONE)
    except BaseException as exc:
        job = dataclasses.replace(job, status=FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        job = _write(dataclasses.replace(job, finished_at=_now(), seconds=round(time.perf_counter() - started, 1)))
        for name in (GOLDEN_FILE, POSTS_FILE):
            (directory / name).unlink(missing_ok=True)
    return job


def main(argv: list[str] | None = None) -> int:
    """``python -m models.tuning_job <task>``: run the task's job (started by :func:`current_or_start`)."""
    (task,) = argv if argv is not None else sys.argv[1:]
    run(task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
