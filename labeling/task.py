"""Task files: one TOML file per labeling task (labels, labeling functions, step defaults).

Minimal contract used by every step (extended by the weak-supervision module):

    task = load_task("labeling/tasks/ai_tweets.toml")
    task.name        # "ai_tweets"
    task.labels      # ["not_ai", "ai"]; list index == Snorkel's integer label
    task.positive    # label name used for PR/ROC AUC on binary tasks, or None
    task.sha256      # hash of the file, recorded with every run
    task.section("train")  # dict of defaults for a later step ({} when absent)
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets.errors import GoldloopError
from datasets.workspace import REPO_ROOT

TASKS_DIR = REPO_ROOT / "labeling" / "tasks"
DEFAULT_TASK = TASKS_DIR / "ai_tweets.toml"


@dataclass(frozen=True)
class Task:
    """A parsed task file."""

    path: Path
    name: str
    labels: list[str]
    positive: str | None
    sha256: str
    raw: dict[str, Any] = field(repr=False)

    def section(self, name: str) -> dict[str, Any]:
        """Defaults table ``[name]`` of the task file, or an empty dict."""
        value = self.raw.get(name, {})
        if not isinstance(value, dict):
            raise GoldloopError(f"{self.path}: [{name}] must be a table")
        return value

    def label_index(self, label: str) -> int:
        """Snorkel integer of ``label``; a clear error for an unknown label name."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise GoldloopError(f"{self.path}: unknown label {label!r}; known labels: {self.labels}") from None


def load_task(path: str | Path | None = None) -> Task:
    """Read and validate the task file at ``path`` (default: the ``ai_tweets`` task)."""
    path = Path(path) if path else DEFAULT_TASK
    if not path.is_file():
        raise GoldloopError(f"task file not found: {path}")
    data_bytes = path.read_bytes()
    try:
        raw = tomllib.loads(data_bytes.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise GoldloopError(f"{path}: not valid TOML: {exc}") from exc
    name = raw.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise GoldloopError(f"{path}: 'name' must be an identifier-like string, got {name!r}")
    labels = raw.get("labels")
    if (not isinstance(labels, list) or len(labels) < 2 or not all(isinstance(x, str) and x for x in labels)
            or len(set(labels)) != len(labels)):
        raise GoldloopError(f"{path}: 'labels' must list at least two distinct label names, got {labels!r}")
    positive = raw.get("positive", labels[1] if len(labels) == 2 else None)
    if positive is not None and positive not in labels:
        raise GoldloopError(f"{path}: 'positive' = {positive!r} is not one of the labels {labels}")
    return Task(path=path.resolve(), name=name, labels=list(labels), positive=positive,
                sha256=hashlib.sha256(data_bytes).hexdigest(), raw=raw)
