"""The demo corpus: short posts written for goldloop, in Twitter API v1.1 JSON shape, with gold labels.

``generate.py`` builds it deterministically; its committed outputs are ``TWEETS_PATH`` (JSONL.gz,
one v1.1 object per line) and ``GOLD_PATH`` (CSV ``id,label`` with the ``ai_tweets`` labels).
"""
from __future__ import annotations

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
TWEETS_PATH = DEMO_DIR / "demo_tweets.jsonl.gz"
GOLD_PATH = DEMO_DIR / "demo_gold.csv"
