"""Helpers for the labeling tests: insert posts and cut a data-set version with the real splitter."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from datasets.splits import create_version

POST_COLUMNS = ("id", "text", "author", "source_app", "hashtags", "urls")


def insert_posts(engine: Engine, posts: list[dict[str, Any]]) -> None:
    """Insert posts (dicts with ``id``, ``text`` and optional ``author``/``source_app``/``hashtags``/``urls``)."""
    with engine.begin() as conn:
        for post in posts:
            conn.exec_driver_sql(
                "INSERT INTO raw_posts (id, text, author, source_app, hashtags, urls, raw)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (post["id"], post["text"], post.get("author"), post.get("source_app"),
                 post.get("hashtags", []), post.get("urls", []), json.dumps(post)))


def make_version(engine: Engine, tmp_path: Path, posts: list[dict[str, Any]], *, test_ids: list[str] = (),
                 dev_ids: list[str] = (), lf: int = 0, seed: int = 1) -> int:
    """Insert ``posts`` and create a version: the given test/dev ids, ``lf`` random LF posts, train the rest."""
    insert_posts(engine, posts)
    assign = {}
    for split, ids in (("test", test_ids), ("dev", dev_ids)):
        if ids:
            path = tmp_path / f"{split}_ids.csv"
            path.write_text("id\n" + "\n".join(ids) + "\n")
            assign[split] = path
    result = create_version(engine, test=0, dev=0, lf=lf, seed=seed, assign=assign, progress=False)
    return result.version


def add_golden(engine: Engine, task: str, labels: dict[str, str], annotator: str = "gold") -> None:
    """Record golden labels (one annotator, so they are golden at once)."""
    with engine.begin() as conn:
        for post_id, label in labels.items():
            conn.exec_driver_sql(
                "INSERT INTO human_labels (task, post_id, action, label, annotator, source)"
                " VALUES (%s, %s, 'label', %s, %s, 'test')", (task, post_id, label, annotator))


AI = ["Trained a random forest on the new dataset, accuracy up 3 points #MachineLearning {}",
      "Deep learning paper {} on arxiv about neural networks https://arxiv.org/abs/1",
      "Our data science team ships a new NLP model with pandas and scikit-learn, run {}"]
NOT_AI = ["Big game tonight, the fans are ready for match {}",
          "Switching to a cheaper data plan with more gigabytes, number {}",
          "Sunny weekend at the beach with coffee and ice cream, day {}"]


def demo_posts(n_each: int) -> tuple[list[dict], dict[str, str]]:
    posts, gold = [], {}
    for i in range(n_each):
        for k, (template, label) in enumerate([(t, "ai") for t in AI] + [(t, "not_ai") for t in NOT_AI]):
            post_id = f"{i:04d}{k}"
            posts.append({"id": post_id, "text": template.format(i * 7 + k), "author": f"user{k}",
                          "hashtags": ["MachineLearning"] if "#MachineLearning" in template else [],
                          "urls": [f"https://arxiv.org/abs/{i}"] if "arxiv" in template else []})
            gold[post_id] = label
    return posts, gold
