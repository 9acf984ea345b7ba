"""Where the stream's posts come from: anything that stores new posts in ``raw_posts``.

The stream classifies what its inbox holds (``datasets.store.stream``), and every insert into
``raw_posts`` fills the inbox, so a source only has to store posts: ``bin/ingest.sh`` run by
hand or by a collector, or a :class:`PostSource` the worker polls. The one here watches a drop
directory. A message-broker source (Kafka: none can be installed on this machine, so none is
written untested) would implement the same two methods: ``pull`` reads a batch, stores it
through ``datasets.store.posts.IngestBatch`` and then commits its consumer offsets, so a crash
between the two re-reads messages whose posts are already stored (counted as duplicates).
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from datasets.errors import GoldloopError
from datasets.ingest import ingest_paths

# Names a collector uses while it writes (rename into place when done) and the directories the
# drop directory keeps its finished files in.
_PARTIAL_SUFFIXES = (".tmp", ".part", ".partial")
DONE, REJECTED, FAILED = "done", "rejected", "failed"


def being_written(name: str) -> bool:
    """Whether a file named ``name`` is still being written by a collector (dot name or partial suffix)."""
    return name.startswith(".") or name.endswith(_PARTIAL_SUFFIXES)


@dataclass(frozen=True, slots=True)
class Pulled:
    """What one ``pull`` did: files (or messages) read, files that could not be read at all
    (``failed``), posts inserted, records rejected."""

    files: int = 0
    failed: int = 0
    inserted: int = 0
    rejected: int = 0

    def __add__(self, other: Pulled) -> Pulled:
        return Pulled(self.files + other.files, self.failed + other.failed, self.inserted + other.inserted,
                      self.rejected + other.rejected)


class PostSource(Protocol):
    """A feed of posts the stream worker polls."""

    def pull(self) -> Pulled:
        """Store some of what has arrived (the inbox trigger queues it); the worker calls again
        after classifying a batch, so a backlog of input never holds classification up."""

    def describe(self) -> str:
        """One line naming the source, for the worker's log and ``--json`` output."""


class DropDirectory:
    """A directory collectors drop files into (Twitter JSON, JSON lines, CSV, parquet; gzip ok).

    Each file is ingested exactly as ``bin/ingest.sh FILE`` would (same readers, same record
    checks, same duplicate handling) and then moved to ``done/``; records it rejects go to
    ``rejected/<file>.jsonl``, and a file that cannot be read at all (unknown format, missing
    columns) moves to ``failed/`` with ``<file>.error`` saying why. Dot files and names ending
    in ``.tmp``/``.part``/``.partial`` are being written and left alone: collectors write under
    such a name and rename into place. As a second guard against a collector that writes in
    place, a file modified less than ``settle_s`` ago waits for the next poll.

    A file moves only after its ingestion committed; a worker killed in between ingests it again
    on restart, where every post is a duplicate: nothing is lost or stored twice.
    """

    def __init__(self, path: Path, settle_s: float = 0.2, batch_size: int = 5000):
        if not path.is_dir():
            raise GoldloopError(f"--drop-dir {path}: not a directory")
        self.path, self.settle_s, self.batch_size = path, settle_s, batch_size
        for sub in (DONE, REJECTED, FAILED):
            (path / sub).mkdir(exist_ok=True)

    def describe(self) -> str:
        return f"drop directory {self.path}"

    def ready(self) -> list[Path]:
        """The files ready to ingest, oldest first."""
        now = time.time()
        found = []
        with os.scandir(self.path) as entries:
            for entry in entries:
                if being_written(entry.name) or not entry.is_file(follow_symlinks=False):
                    continue
                mtime = entry.stat().st_mtime
                if now - mtime >= self.settle_s:
                    found.append((mtime, entry.name))
        return [self.path / name for _, name in sorted(found)]

    def pull(self) -> Pulled:
        """Ingest the oldest ready file, if any (one per call: see :meth:`PostSource.pull`)."""
        ready = self.ready()
        if not ready:
            return Pulled()
        path = ready[0]
        try:
            result = ingest_paths([path], rejects_path=self.rejects_of(path), batch_size=self.batch_size,
                                  progress=False)
        except GoldloopError as exc:
            return self.failed(path, exc)
        self.done(path)
        return Pulled(files=1, inserted=result.inserted, rejected=result.rejected)

    def rejects_of(self, path: Path) -> Path:
        """Where the rejected records of dropped file ``path`` go."""
        return self.path / REJECTED / f"{path.name}.jsonl"

    def done(self, path: Path) -> None:
        """Move ``path``, whose posts are stored, to ``done/``."""
        os.replace(path, self.path / DONE / path.name)

    def failed(self, path: Path, error: GoldloopError) -> Pulled:
        """Move ``path``, which cannot be read, to ``failed/`` with a ``.error`` file saying why."""
        (self.path / FAILED / f"{path.name}.error").write_text(f"{error}\n", encoding="utf-8")
        os.replace(path, self.path / FAILED / path.name)
        return Pulled(failed=1)
