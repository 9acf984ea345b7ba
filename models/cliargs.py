"""Command-line arguments every loop command shares."""
from __future__ import annotations

import argparse


def add_task_arguments(p: argparse.ArgumentParser) -> None:
    """``--task FILE`` and ``--version N``, with their defaults explained."""
    p.add_argument("--task", help="task file (default: labeling/tasks/ai_tweets.toml)")
    p.add_argument("--version", type=int, help="data-set version (default: latest)")
