"""Where goldloop keeps its state: the workspace directory (``GOLDLOOP_HOME``).

The workspace holds the embedded database, data-set exports and trained models. It defaults
to ``.goldloop/`` inside the checkout (git-ignored) and can be moved with ``GOLDLOOP_HOME``.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def home() -> Path:
    """Return the workspace directory, creating it when missing."""
    path = Path(os.environ.get("GOLDLOOP_HOME") or REPO_ROOT / ".goldloop").expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def pgdata_dir() -> Path:
    """Directory of the embedded PostgreSQL cluster."""
    return home() / "pgdata"


def datasets_dir() -> Path:
    """Root of the per-version split exports (``datasets/v<N>/``)."""
    return home() / "datasets"


def version_dir(version: int) -> Path:
    """Export directory of one data-set version."""
    return datasets_dir() / f"v{version}"


def models_dir() -> Path:
    """Root of trained models (``models/<task>/<run>/``)."""
    return home() / "models"


def reports_dir() -> Path:
    """Root of reports (learning curves, evaluation output)."""
    return home() / "reports"


def embeddings_dir() -> Path:
    """Root of the sentence-encoder embedding caches (``embeddings/<encoder>/``)."""
    return home() / "embeddings"


def encoders_dir() -> Path:
    """Root of sentence encoders fine-tuned in this workspace (``encoders/tuned-<hash>/``)."""
    return home() / "encoders"
