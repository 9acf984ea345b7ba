"""A tiny synthetic 'world' for the loop's tests: posts, a split version, weak labels and LF votes.

Spam-like posts ("check out my channel", "subscribe") against ham ("love this song"), with
two keyword LFs whose votes and label-model-like probabilities are written where the
weak-supervision step writes them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from datasets import workspace
from datasets.split_files import read_split
from datasets.splits import create_version
from labeling.task import Task, load_task

SPAM = ["check out my channel {n}", "subscribe to my channel please {n}", "free gift cards at www.spam{n}.com",
        "visit my page for money {n}", "please subscribe and like {n}"]
HAM = ["love this song {n}", "this video is great {n}", "best music ever {n}", "she sings so well {n}",
       "i listen every day {n}"]
LF_NAMES = ["kw_subscribe", "kw_love"]

TASK_TOML = """name = "spamtest"
labels = ["ham", "spam"]
positive = "spam"

[train]
epochs = 4
max_tokens = 500
batch_size = 32
learning_rate = 0.02

[active_learning]
batch_size = 5
queue_size = 20
"""
# The world's two keyword LFs (LF_NAMES) as task-file entries, for tests that run the real LFs.
KEYWORD_LFS = """
[[lfs]]
name = "kw_subscribe"
kind = "keyword"
label = "spam"
terms = ["subscribe", "channel", "money"]

[[lfs]]
name = "kw_love"
kind = "keyword"
label = "ham"
terms = ["love", "music", "great"]
"""


@dataclass
class World:
    task: Task
    version: int
    truth: pd.DataFrame  # id, label, split


def _votes(text: str) -> list[int]:
    return [1 if ("subscribe" in text or "channel" in text) else -1, 0 if ("love" in text or "music" in text) else -1]


def make_world(engine: sa.engine.Engine, tmp_path: Path, n: int = 160, seed: int = 0,
               task_toml: str = TASK_TOML, dev: int = 0) -> World:
    """Insert ``n`` posts, split them (test 40, ``dev``, lf 40), write weak labels and LF votes."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        spam = i % 2 == 1
        template = (SPAM if spam else HAM)[int(rng.integers(5))]
        rows.append({"id": f"p{i:04d}", "text": template.format(n=i), "label": "spam" if spam else "ham"})
    posts = pd.DataFrame(rows)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO raw_posts (id, text) VALUES (:id, :text)"), posts[["id", "text"]].to_dict("records"))
    version = create_version(engine, test=40, dev=dev, lf=40, seed=seed, progress=False).version
    task_path = tmp_path / "spamtest.toml"
    task_path.write_text(task_toml)
    task = load_task(task_path)
    _write_weak(engine, task, version, posts)
    membership = pd.read_sql(sa.text("SELECT post_id AS id, split FROM split_members WHERE version = :v"),
                             engine, params={"v": version})
    return World(task, version, posts.merge(membership, on="id")[["id", "label", "split", "text"]])


def _write_weak(engine: sa.engine.Engine, task: Task, version: int, posts: pd.DataFrame) -> None:
    """What the weak-supervision step writes: LF votes, label-model predictions, weak parquet files."""
    votes = {pid: _votes(text) for pid, text in zip(posts["id"], posts["text"])}
    with engine.begin() as conn:
        run_id = conn.execute(sa.text(
            "INSERT INTO lf_runs (task, task_hash, version, lf_names, label_names) VALUES (:t, :h, :v, :n, :l)"
            " RETURNING id"), {"t": task.name, "h": task.sha256, "v": version, "n": LF_NAMES, "l": task.labels}).scalar()
        conn.execute(sa.text("INSERT INTO lf_votes (run_id, post_id, votes) VALUES (:r, :p, :v)"),
                     [{"r": run_id, "p": pid, "v": v} for pid, v in votes.items()])
        preds = []
        for pid, v in votes.items():
            p_spam = 0.9 if v[0] == 1 else (0.1 if v[1] == 0 else 0.5)
            preds.append({"t": task.name, "p": pid, "l": "spam" if p_spam > 0.5 else "ham",
                          "c": max(p_spam, 1 - p_spam), "pr": json.dumps({"ham": 1 - p_spam, "spam": p_spam})})
        conn.execute(sa.text("INSERT INTO predictions (task, source, post_id, version, label, confidence, probs)"
                             " VALUES (:t, 'label_model', :p, NULL, :l, :c, CAST(:pr AS jsonb))"), preds)
    out = workspace.version_dir(version) / task.name
    out.mkdir(parents=True, exist_ok=True)
    for split in ("lf", "train"):
        frame = read_split(version, split)[["id", "text"]]
        v = np.array([votes[i] for i in frame["id"]])
        p_spam = np.where(v[:, 0] == 1, 0.9, np.where(v[:, 1] == 0, 0.1, 0.5))
        frame = frame.assign(prob_ham=1 - p_spam, prob_spam=p_spam,
                             label=np.where(p_spam > 0.5, 1, 0), covered=(v != -1).any(axis=1))
        frame.to_parquet(out / f"{split}_weak.parquet", index=False)


def add_golden(engine: sa.engine.Engine, task: Task, labels: pd.DataFrame, annotator: str = "tester") -> None:
    """Append golden labels (``id``, ``label`` columns) to ``human_labels``."""
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO human_labels (task, post_id, action, label, annotator, source)"
                             " VALUES (:t, :p, 'label', :l, :a, 'import')"),
                     [{"t": task.name, "p": p, "l": lbl, "a": annotator} for p, lbl in zip(labels["id"], labels["label"])])


# The world's task with a third keyword LF (three LFs: the label model proper, not the majority vote).
LF_TOML = TASK_TOML + KEYWORD_LFS + """
[[lfs]]
name = "kw_listen"
kind = "keyword"
label = "ham"
terms = ["listen", "sings", "best"]

[label_model]
seed = 0
epochs = 50
"""
