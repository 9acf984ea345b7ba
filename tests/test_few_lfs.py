"""Tasks with fewer LFs than Snorkel's label model accepts: majority vote stands in, with a note.

bin/label.sh and bin/loop.sh run end to end with a 2-LF task on a real PostgreSQL, and the
loop's --json output stays strict JSON when metrics are undefined (no golden test labels).
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from datasets.errors import GoldloopError
from labeling.label import run_label
from tests.support.strict_json import strict_loads
from tests.support.labeling import demo_posts
from tests.support.labeling import add_golden, make_version
from tests.support.world import KEYWORD_LFS, TASK_TOML, make_world

REPO = Path(__file__).resolve().parent.parent

AI_HEAD = 'name = "ai_tweets"\nlabels = ["not_ai", "ai"]\n'
KW_AI = '[[lfs]]\nname = "kw_ai"\nkind = "keyword"\nlabel = "ai"\nterms = ["data science", "NLP", "arxiv"]\n'
KW_GAME = '[[lfs]]\nname = "kw_game"\nkind = "keyword"\nlabel = "not_ai"\nterms = ["game", "data plan", "beach"]\n'


@pytest.fixture()
def two_lf_version(engine, tmp_path: Path) -> tuple[Path, int]:
    posts, gold = demo_posts(20)  # 120 posts
    ids = [p["id"] for p in posts]
    version = make_version(engine, tmp_path, posts, test_ids=ids[:24], dev_ids=ids[24:72], lf=20)
    add_golden(engine, "ai_tweets", {i: gold[i] for i in ids[:72]})
    task = tmp_path / "two_lfs.toml"
    task.write_text(AI_HEAD + KW_AI + KW_GAME)
    return task, version


def test_label_sh_with_two_lfs_uses_majority_vote_and_says_so(engine, two_lf_version) -> None:
    task, version = two_lf_version
    done = subprocess.run([str(REPO / "bin/label.sh"), "--task", str(task), "--json"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = strict_loads(done.stdout)
    note = result["label_model_fallback"]
    assert str(task) in note and "2 LF(s)" in note and "at least 3" in note and "majority vote" in note
    assert result["label_model"] == result["majority_vote"] and result["label_model"]["dev"]["n"] == 48
    assert result["label_model"]["test"]["accuracy"] > 0.6
    weak = result["weak_targets"]  # 48 golden dev labels: majority vote and the supervised combiner compete
    assert set(weak["cv_macro_f1"]) == {"majority_vote", "supervised"} and weak["choice"] in weak["cv_macro_f1"]
    assert all(row["weight"] is None for row in result["lf_summary"])
    text = subprocess.run([str(REPO / "bin/label.sh"), "--task", str(task), "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert text.returncode == 0, text.stderr
    assert f"note: {note}" in text.stdout and "kw_game" in text.stdout


def test_one_lf_without_golden_labels_and_no_lf_at_all(engine, two_lf_version, tmp_path: Path) -> None:
    task, version = two_lf_version
    one = tmp_path / "one_lf.toml"
    one.write_text(AI_HEAD.replace("ai_tweets", "one_lf") + KW_AI)
    result = run_label(one, version, progress=False)
    assert "1 LF(s)" in result.label_model_fallback and result.lf_golden == {"dev": 0, "lf": 0, "train": 0}
    assert result.weak_targets["choice"] == "majority_vote"
    assert result.weak_targets["reason"].startswith("only 0 golden labels")
    empty = tmp_path / "no_lfs.toml"
    empty.write_text(AI_HEAD)
    with pytest.raises(GoldloopError, match=rf"{empty}: no labeling functions"):
        run_label(empty, version, progress=False)


@pytest.mark.slow
def test_loop_sh_with_two_lfs_and_no_golden_labels_prints_strict_json(engine, tmp_path: Path) -> None:
    world = make_world(engine, tmp_path, task_toml=TASK_TOML + KEYWORD_LFS)
    done = subprocess.run([str(REPO / "bin/loop.sh"), "--task", str(world.task.path), "--json"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    result = strict_loads(done.stdout)  # no NaN although no metric is defined without golden test labels
    assert "2 LF(s)" in result["label_model_fallback"] and result["n_test"] == 0
    assert result["iterations"][0]["end_model_macro_f1"] is None
    assert result["queues"]["active"]["items"] > 0
    text = subprocess.run([str(REPO / "bin/loop.sh"), "--task", str(world.task.path)],
                          capture_output=True, text=True, timeout=900)
    assert text.returncode == 0, text.stderr
    assert "note: " in text.stdout and "majority vote of the LFs stands in" in text.stdout
    assert json.loads(done.stdout)["task"] == "spamtest"
