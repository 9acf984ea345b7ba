"""Where the weak labels of a split live: ``<version dir>/<task>/<split>_weak.parquet``.

``bin/label.sh`` writes them and the training loop reads them; both take the path from here so
the writer and the readers cannot drift apart.
"""
from __future__ import annotations

from pathlib import Path

from datasets import workspace


def weak_path(version: int, task: str, split: str = "train") -> Path:
    """Path of the weak-label export of ``split`` for the task named ``task`` on data-set ``version``."""
    return workspace.version_dir(version) / task / f"{split}_weak.parquet"
