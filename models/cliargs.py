"""Command-line arguments every loop command shares."""
from __future__ import annotations

import argparse

from labeling.task import add_task_argument


def add_task_arguments(p: argparse.ArgumentParser) -> None:
    """``--task FILE`` and ``--version N``, with their defaults explained."""
    add_task_argument(p)
    p.add_argument("--version", type=int, help="data-set version (default: latest)")
