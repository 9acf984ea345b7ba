"""The vectorized applier's matrix equals Snorkel's PandasLFApplier on the same LFs, row by row."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from snorkel.labeling import PandasLFApplier

from labeling import synthetic
from labeling.applier import TaskApplier
from labeling.task import TASKS_DIR, load_task

# A task using every LF kind, every field and every regex flag.
EVERY_KIND = r'''
name = "every_kind"
labels = ["a", "b", "c"]

[[lfs]]
name = "kw_text"
kind = "keyword"
label = "b"
terms = ["machine learning", "AI", "data science", "C++", "a.i.", "naïve", "science"]
unless = ["big game", "#BigGame"]

[[lfs]]
name = "kw_hashtags"
kind = "keyword"
label = "b"
field = "hashtags"
terms = ["machine learning", "AI", "deep learning"]

[[lfs]]
name = "kw_domains"
kind = "keyword"
label = "c"
field = "url_domains"
terms = ["arxiv.org", "github.com", "kaggle.com"]

[[lfs]]
name = "kw_author"
kind = "keyword"
label = "c"
field = "author"
terms = ["ai_news", "ml-weekly"]

[[lfs]]
name = "re_source"
kind = "regex"
label = "a"
field = "source_app"
patterns = ["^twitter for", "IFTTT$"]
flags = ["IGNORECASE"]

[[lfs]]
name = "re_flags"
kind = "regex"
label = "a"
patterns = ["^rt\\b", "big\\s+game$", "data . science"]
flags = ["I", "M", "S"]
unless = ["(?x) neural \\s+ network  # verbose"]

[[lfs]]
name = "re_ascii_verbose"
kind = "regex"
label = "c"
patterns = ["\\w+ \\w+ \\W*🤖"]
flags = ["ASCII", "VERBOSE"]

[[lfs]]
name = "re_plain"
kind = "regex"
label = "b"
patterns = ["LLM", "\\bGPT\\b"]

[[lfs]]
name = "py_short"
kind = "python"
ref = "labeling.lfs.common:short_text_is_0"

[[lfs]]
name = "clusters"
kind = "cluster"
k = 6
svd_components = 20
min_purity = 0.6
min_support = 3
'''

EDGE_CASES = ["aı stuff", "KAI", "ſcience", "İstanbul AI", "naïve NAÏVE", "machine\u00a0learning", "",
              "#MachineLearning", "#machine_learning", "AIs", "x#AI", "c++", "C++11", "RT: big game"]


def corpus(n: int, seed: int) -> pd.DataFrame:
    frame = synthetic.posts(n, seed)
    edge = frame.iloc[:len(EDGE_CASES)].copy()
    edge["text"] = EDGE_CASES
    edge["id"] = [f"edge-{i}" for i in range(len(EDGE_CASES))]
    return pd.concat([edge, frame], ignore_index=True)


@pytest.mark.parametrize("task_name", ["ai_tweets", "youtube_spam", "every_kind"])
def test_matrix_equals_snorkel_pandas_applier(task_name: str, tmp_path: Path) -> None:
    if task_name == "every_kind":
        path = tmp_path / "every_kind.toml"
        path.write_text(EVERY_KIND)
    else:
        path = TASKS_DIR / f"{task_name}.toml"
    task = load_task(path)
    applier = TaskApplier(task).fit(corpus(600, seed=7))
    frame = corpus(1000, seed=11)
    ours = applier.apply(frame, chunk_rows=400)
    reference = PandasLFApplier(applier.snorkel_lfs()).apply(frame, progress_bar=False)
    assert ours.dtype == np.int8 and ours.shape == (len(frame), len(task.lfs))
    mismatch = np.argwhere(ours != reference)
    assert not len(mismatch), [(task.lf_names[j], frame.text.iloc[i], ours[i, j], reference[i, j])
                               for i, j in mismatch[:5]]
    # every LF fires somewhere and abstains somewhere: the comparison is not vacuous
    fired = (ours >= 0).mean(axis=0)
    assert ((fired > 0) & (fired < 1)).sum() >= len(task.lfs) - 2, dict(zip(task.lf_names, fired))
