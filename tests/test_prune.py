"""models.prune: tuned encoders nothing uses are removed with their caches; used and young ones stay."""
from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict
from pathlib import Path

from datasets.store import runs
from models import encoder, prune, tuning_job

REPO = Path(__file__).resolve().parent.parent
HOURS_AGO = time.time() - 2 * 3600


def _directory(path: Path, size: int = 1000, *, old: bool = True) -> Path:
    """A directory holding one file of ``size`` bytes, written two hours ago when ``old``."""
    path.mkdir(parents=True)
    (path / "weights.bin").write_bytes(b"\0" * size)
    if old:
        os.utime(path, (HOURS_AGO, HOURS_AGO))
    return path


def _tuned(home: Path, name: str, *, cached: bool = True, old: bool = True) -> str:
    """A tuned encoder directory ``name`` (and its embedding cache)."""
    if cached:
        _directory(home / "embeddings" / name, old=old)
    _directory(home / "encoders" / name, old=old)
    return name


def _done_job(task: str, encoder_name: str) -> None:
    """A task's finished tuning job that saved ``encoder_name``."""
    job = tuning_job.TuningJob(task=task, base=encoder.DEFAULT_ENCODER, golden_labels=100, pairs_per_label=6,
                               seed=0, posts=10, status=tuning_job.DONE, pid=1, started_at="2026-11-28T00:00:00+00:00",
                               finished_at="2026-11-28T00:01:00+00:00", encoder=encoder_name, seconds=60.0)
    tuning_job.job_dir(task).mkdir(parents=True)
    (tuning_job.job_dir(task) / tuning_job.JOB_FILE).write_text(json.dumps(asdict(job)))


def test_prune_removes_only_what_nothing_uses(engine, home: Path):
    run_read = _tuned(home, "tuned-00000000000000a1")
    job_made = _tuned(home, "tuned-00000000000000a2")
    young = _tuned(home, "tuned-00000000000000a3", old=False)
    unused = _tuned(home, "tuned-00000000000000a4")
    uncached = _tuned(home, "tuned-00000000000000a5", cached=False)
    orphan = _directory(home / "embeddings" / "tuned-00000000000000a6")
    packaged_cache = _directory(home / "embeddings" / encoder.DEFAULT_ENCODER)
    half_written = _directory(home / "encoders" / f"{encoder.PARTIAL_PREFIX}0123456789ab")
    with engine.begin() as conn:
        runs.record(conn, task="spam", task_hash="x", version=None, kind="train", params={"encoder": run_read},
                    metrics={})
    _done_job("spam", job_made)

    planned = prune.prune(engine, dry_run=True)
    assert sorted(planned.removed) == [unused, uncached]
    assert planned.orphan_caches == [orphan.name] and planned.kept == 3
    assert planned.freed_bytes == 5 * 1000   # two encoders, one cache, the orphan cache, the half copy
    assert (home / "encoders" / unused).exists() and half_written.exists()   # a dry run removes nothing

    done = prune.prune(engine)
    assert done.removed == planned.removed and done.freed_bytes == planned.freed_bytes
    assert sorted(p.name for p in (home / "encoders").iterdir() if p.name != "jobs") == [run_read, job_made, young]
    assert sorted(p.name for p in (home / "embeddings").iterdir()) == sorted([encoder.DEFAULT_ENCODER, run_read,
                                                                             job_made, young])
    assert packaged_cache.exists() and not orphan.exists() and not half_written.exists()
    assert prune.prune(engine, grace_minutes=0).removed == [young]   # no grace: the young one is unused too


def test_only_limits_the_prune_to_the_named_encoders(engine, home: Path):
    mine, other = _tuned(home, "tuned-00000000000000b1"), _tuned(home, "tuned-00000000000000b2")
    orphan = _directory(home / "embeddings" / "tuned-00000000000000b3")
    result = prune.prune(engine, grace_minutes=0, only={mine, encoder.DEFAULT_ENCODER})
    assert result.removed == [mine] and result.orphan_caches == []
    assert (home / "encoders" / other).exists() and orphan.exists()


def test_prune_cli_prints_json_and_refuses_a_negative_grace(engine, home: Path):
    _tuned(home, "tuned-00000000000000c1")
    env = {**os.environ, "GOLDLOOP_HOME": str(home)}
    proc = subprocess.run([str(REPO / "bin/prune.sh"), "--json", "--dry-run"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    assert printed["removed"] == ["tuned-00000000000000c1"] and printed["dry_run"] is True
    for grace in ("-5", "nan"):
        bad = subprocess.run([str(REPO / "bin/prune.sh"), "--grace-minutes", grace], capture_output=True, text=True,
                             env=env, timeout=300)
        assert bad.returncode == 1 and f"--grace-minutes: must be a number of minutes, at least 0, got {grace}" \
            in bad.stderr
    assert (home / "encoders" / "tuned-00000000000000c1").exists()


def test_nothing_is_removed_from_an_empty_workspace(engine, home: Path):
    result = prune.prune(engine, grace_minutes=0)
    assert (result.removed, result.orphan_caches, result.freed_bytes, result.kept) == ([], [], 0, 0)
