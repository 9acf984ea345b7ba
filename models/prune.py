"""Free the disk that fine-tuned encoders nothing refers to any more still hold.

Each label milestone tunes a new encoder (:mod:`models.finetune`): about 90 MB of weights, plus an
embedding cache of every post encoded with it (110 MB for 14,485 tweets, about 150 MB per 100,000
posts). A loop tunes a handful over its life, and each stays needed while a saved model reads it; a
simulation tunes one per milestone, strategy and seed (18 for the airline acceptance run: 3.6 GB)
that nothing reads once its curves are written. This module finds the tuned encoders that are no
longer needed and removes them with their caches, the way ``git gc`` removes unreachable objects.

A tuned encoder is kept while

* a run in the database names it (``runs.params.encoder``): every saved model, and so the
  registry's production model, reads its encoder when it is loaded;
* a task's :mod:`models.tuning_job` is running or has finished with it (the next training reads it);
* it is younger than the grace period: a training saves the encoder it tuned before it records
  its run, so a prune must not take an encoder a training is still fitting on.

Embedding caches of packaged encoders stay (they are what every training reads); caches of tuned
encoders that are gone, and half-written encoder copies past the grace period, go.
A directory is renamed out of the way before it is deleted, so a reader sees it whole or not at all.
"""
from __future__ import annotations

import math
import os
import shutil
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from datasets import cli
from datasets.results import StepResult
from datasets.store import runs
from datasets.store.db import get_engine
from datasets.workspace import embeddings_dir, encoders_dir
from models import encoder, tuning_job

DEFAULT_GRACE_MINUTES = 60.0
ASIDE_PREFIX = ".removing-"   # a directory renamed aside, being deleted


@dataclass(frozen=True, slots=True)
class PruneResult(StepResult):
    """What a prune removed (or, with ``dry_run``, would remove) and kept.

    ``removed`` names the tuned encoders whose weights and cache went, ``orphan_caches`` the caches
    of tuned encoders already gone, ``freed_bytes`` their size on disk; ``kept`` counts the tuned
    encoders still referred to (or too young to judge).
    """

    dry_run: bool
    removed: list[str]
    orphan_caches: list[str]
    freed_bytes: int
    kept: int


def in_use(engine: Engine) -> set[str]:
    """The tuned encoders a run names or a running or finished tuning job holds."""
    with engine.connect() as conn:
        named = runs.encoders_named(conn, encoder.TUNED_PREFIX)
    jobs_root = encoders_dir() / "jobs"
    tasks = [path.name for path in jobs_root.iterdir() if path.is_dir()] if jobs_root.is_dir() else []
    jobs = [job for task in tasks if (job := tuning_job.read(task)) is not None]
    return named | {job.encoder for job in jobs if job.encoder and job.status != tuning_job.FAILED}


def _size(path: Path) -> int:
    """Bytes of the files under ``path``."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def _last_write(*paths: Path) -> float:
    """When any of ``paths`` (that exist) last changed: an encoder's directory is written when it is
    saved, its cache's each time posts are encoded with it."""
    return max((path.stat().st_mtime for path in paths if path.exists()), default=0.0)


def _subdirs(root: Path, pattern: str) -> list[Path]:
    """The directories in ``root`` matching ``pattern`` (none when ``root`` does not exist)."""
    return sorted(p for p in root.glob(pattern) if p.is_dir()) if root.is_dir() else []


def _remove(path: Path) -> None:
    """Delete directory ``path``: first renamed aside (atomic), so no reader meets half of it."""
    aside = path.with_name(f"{ASIDE_PREFIX}{uuid.uuid4().hex[:12]}")
    os.replace(path, aside)
    shutil.rmtree(aside)


def prune(engine: Engine | None = None, *, grace_minutes: float = DEFAULT_GRACE_MINUTES,
          only: Collection[str] | None = None, dry_run: bool = False) -> PruneResult:
    """Remove the workspace's tuned encoders nothing uses (see the module docstring) and their caches.

    ``only`` limits the removal to these encoders (a simulation's own: then caches and leftovers of
    others are not touched); ``grace_minutes`` spares whatever was written more recently than that.
    """
    keep = in_use(engine or get_engine())
    cutoff = time.time() - grace_minutes * 60
    tuned = _subdirs(encoders_dir(), f"{encoder.TUNED_PREFIX}*")
    garbage = [p for p in tuned if p.name not in keep and (only is None or p.name in only)
               and _last_write(p, embeddings_dir() / p.name) < cutoff]
    doomed = [path for p in garbage for path in (embeddings_dir() / p.name, p) if path.exists()]
    orphans: list[Path] = []
    if only is None:
        names = {p.name for p in tuned}
        orphans = [c for c in _subdirs(embeddings_dir(), f"{encoder.TUNED_PREFIX}*")
                   if c.name not in names and _last_write(c) < cutoff]
        leftovers = [p for root in (encoders_dir(), embeddings_dir())
                     for prefix in (encoder.PARTIAL_PREFIX, ASIDE_PREFIX)
                     for p in _subdirs(root, f"{prefix}*") if _last_write(p) < cutoff]
        doomed += orphans + leftovers
    freed = sum(_size(path) for path in doomed)
    if not dry_run:
        for path in doomed:
            _remove(path)
    return PruneResult(dry_run=dry_run, removed=[p.name for p in garbage], orphan_caches=[c.name for c in orphans],
                       freed_bytes=freed, kept=len(tuned) - len(garbage))


def summary(result: PruneResult) -> str:
    """One line per removed encoder, then the total."""
    verb = "would remove" if result.dry_run else "removed"
    lines = [f"{verb} {name} (weights and embedding cache)" for name in result.removed]
    lines += [f"{verb} the embedding cache of {name} (its encoder is gone)" for name in result.orphan_caches]
    lines.append(f"{verb} {len(result.removed)} tuned encoders, {result.freed_bytes / 2**20:.0f} MiB; "
                 f"kept {result.kept} in use or younger than the grace period")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``bin/prune.sh``: remove fine-tuned encoders and embedding caches nothing uses."""
    p = cli.parser("bin/prune.sh", "Remove the workspace's fine-tuned encoders that no run, production model "
                                   "or tuning job uses, with their embedding caches.")
    p.add_argument("--grace-minutes", type=float, default=DEFAULT_GRACE_MINUTES,
                   help=f"spare encoders written in the last N minutes: a training may still be fitting on "
                        f"one it has not recorded yet (default {DEFAULT_GRACE_MINUTES:g})")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, remove nothing")
    args = p.parse_args(argv)
    if not 0 <= args.grace_minutes < math.inf:
        p.error(f"--grace-minutes: must be a number of minutes, at least 0, got {args.grace_minutes:g}")
    cli.emit(prune(grace_minutes=args.grace_minutes, dry_run=args.dry_run), args.json, summary)
    return cli.EXIT_OK


if __name__ == "__main__":
    cli.run(main)
